import type { RecordedConfigCheck } from '../gpu/tune_adopt.js';
import { limitRefusal } from '../gpu/tune_limits.js';
import type { KernelSpec } from './kernel.js';
import { CONV_FILTER_CONFIGS, convFilterTuning, type ConvFilterConfig } from './conv2d_backward_filter.js';
import { CONV_GEMM_CONFIGS, convGemmSpec, type ConvGemmConfig, type Pair } from './conv2d_gemm.js';
import { causalAttentionBackwardTuning, causalAttentionForwardTuning, type AttentionShape } from './causal_attention.js';
import { MATMUL_CONFIGS, matmulProgram, type MatmulParams } from './matmul.js';

/**
 * Whether this device can use a kernel configuration a checkpoint recorded for a shape class (the
 * `RecordedConfigCheck` that `Autotuner.adopt` takes): the id must be one the shape class's family
 * knows (matmul, implicit-GEMM conv, conv filter gradient, causal attention), and its launches must
 * need no feature the device lacks and no workgroup over its limits.
 *
 * Shape classes keep size buckets, not sizes, so each family rebuilds a representative problem of
 * the class to read its launches from. What a configuration asks of one workgroup (invocations,
 * workgroup memory, `enable` features) does not depend on the sizes; dispatch counts do, and are
 * left to the compile of the real problem.
 */
export const recordedConfigRefusal: RecordedConfigCheck = (shapeClass, id, device) => {
  const family = FAMILIES.find((f) => f.matches(shapeClass));
  if (!family) return 'shape class of a kernel family this version does not know';
  let launches: KernelSpec[] | string;
  try {
    launches = family.launches(shapeClass, id);
  } catch (e) {
    return `its kernel cannot be built for this shape class: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (typeof launches === 'string') return launches;
  return launches.map((spec) => limitRefusal(spec, device.limits, device.features)).find(Boolean);
};

const UNREADABLE = 'shape class this version cannot read';

/** Why `id` is refused when it is not among the `known` ones, or undefined when it is. */
function unknownId(id: string, known: readonly string[], what = 'the family knows'): string | undefined {
  return known.includes(id) ? undefined : `config unknown to this version; ${what} ${known.join(', ')}`;
}

/** Keeps representative problems small: the sizes only change dispatch counts, which are not judged here. */
const capped = (log2: number) => 2 ** Math.min(log2, 10);

/** A kh×kw window sliding along one row of `positions` outputs: stride 1, no padding, no dilation. */
function rowGeometry(kh: number, kw: number, positions: number): { src: Pair; kernel: Pair; stride: Pair; padding: Pair; dilation: Pair } {
  return { src: [kh, positions + kw - 1], kernel: [kh, kw], stride: [1, 1], padding: [0, 0], dilation: [1, 1] };
}

interface Family {
  matches(shapeClass: string): boolean;
  /** The launches of config `id` on a problem of `shapeClass`, or why there are none (an unknown id, a class that does not parse). */
  launches(shapeClass: string, id: string): KernelSpec[] | string;
}

/** matmulShapeClass: `matmul.<tt>.<kind>.M<m>.N<n>.K<k>.<batched|single>.v<abc>`, sizes as powers of two. */
const MATMUL: Family = {
  matches: (shapeClass) => shapeClass.startsWith('matmul.'),
  launches(shapeClass, id) {
    const unknown = unknownId(id, MATMUL_CONFIGS.map((c) => c.id));
    if (unknown) return unknown;
    const m = /^matmul\.([nt])([nt])\.\w+\.M(\d+)\.N(\d+)\.K(\d+)\.(batched|single)\.v[01]{3}$/.exec(shapeClass);
    if (!m) return UNREADABLE;
    const size = (bucket: string) => capped(Math.log2(Number(bucket)));
    const p: MatmulParams = { batch: m[6] === 'batched' ? 2 : 1, M: size(m[3]), N: size(m[4]), K: size(m[5]), transA: m[1] === 't', transB: m[2] === 't' };
    return matmulProgram(p, MATMUL_CONFIGS.find((c) => c.id === id)!).launches.map((l) => l.spec);
  },
};

/** convGemmShapeClass: `<name>|<forward|transposed>|m<log2>|c<log2>|p<log2>|k<kh>x<kw>`. */
const CONV_GEMM: Family = {
  matches: (shapeClass) => /^\w+\|(forward|transposed)\|/.test(shapeClass),
  launches(shapeClass, id) {
    const unknown = unknownId(id, CONV_GEMM_CONFIGS);
    if (unknown) return unknown;
    const m = /^(\w+)\|(forward|transposed)\|m(\d+)\|c(\d+)\|p(\d+)\|k(\d+)x(\d+)$/.exec(shapeClass);
    if (!m) return UNREADABLE;
    const [kh, kw] = [Number(m[6]), Number(m[7])];
    const [channels, inputs, positions] = [capped(Number(m[3])), capped(Number(m[4])), capped(Number(m[5]))];
    const g = {
      name: m[1],
      gather: m[2] as 'forward' | 'transposed',
      batch: 1,
      m: channels,
      c: inputs,
      ...rowGeometry(kh, kw, positions),
      dst: [1, positions] as Pair,
      wStrideOut: inputs * kh * kw,
      wStrideRed: kh * kw,
      bias: false,
      activation: { kind: 'none' as const },
    };
    return [convGemmSpec(g, id as ConvGemmConfig)];
  },
};

/** convFilterTuning's shape class: `<name>|m<log2>|c<log2>|r<log2>|k<kh>x<kw>`. */
const CONV_FILTER: Family = {
  matches: (shapeClass) => /^\w+\|m\d+\|c\d+\|r\d+\|/.test(shapeClass),
  launches(shapeClass, id) {
    const unknown = unknownId(id, CONV_FILTER_CONFIGS);
    if (unknown) return unknown;
    const m = /^(\w+)\|m(\d+)\|c(\d+)\|r(\d+)\|k(\d+)x(\d+)$/.exec(shapeClass);
    if (!m) return UNREADABLE;
    const [kh, kw] = [Number(m[5]), Number(m[6])];
    const positions = capped(Number(m[4]));
    const f = {
      name: m[1],
      batch: 1,
      m: capped(Number(m[2])),
      c: capped(Number(m[3])),
      ...rowGeometry(kh, kw, positions),
      grad: [1, positions] as Pair,
    };
    const candidate = convFilterTuning(f).candidates.find((c) => c.id === (id as ConvFilterConfig))!;
    return [candidate.spec, ...(candidate.after ?? []).map((a) => a.spec)];
  },
};

/**
 * The attention kernels' shape classes: `causal_attention[_backward].dh<head dim>.t<tokens>.bh<batch·heads>`.
 * Their ids are tile shapes fitted to the head dimension, which the class keeps exactly, so the
 * candidates are those the family offers for it (on a software adapter or not: only the order differs).
 */
const ATTENTION: Family = {
  matches: (shapeClass) => /^causal_attention(_backward)?\./.test(shapeClass),
  launches(shapeClass, id) {
    const m = /^(causal_attention(?:_backward)?)\.dh(\d+)\.t(\d+)\.bh(\d+)$/.exec(shapeClass);
    if (!m) return UNREADABLE;
    const s: AttentionShape = { batch: 1, heads: 1, headDim: Number(m[2]), tokens: capped(Math.log2(Number(m[3]))) };
    const tuning = m[1] === 'causal_attention' ? causalAttentionForwardTuning : causalAttentionBackwardTuning;
    const candidates = [false, true].flatMap((software) => tuning(s, 1, software).candidates);
    const unknown = unknownId(id, [...new Set(candidates.map((c) => c.id))], `for head dimension ${s.headDim} the family offers`);
    if (unknown) return unknown;
    const candidate = candidates.find((c) => c.id === id)!;
    return [candidate.spec, ...(candidate.after ?? []).map((a) => a.spec)];
  },
};

const FAMILIES: readonly Family[] = [MATMUL, CONV_GEMM, CONV_FILTER, ATTENTION];

import { flatIndexWGSL } from '../../shaders/lib/indexing.js';
import { dispatch1D } from '../kernels/geometry.js';
import { UniformWriter, type KernelSpec } from '../kernels/kernel.js';

const WG = 256;

/**
 * values[i] = 0 where bit i of the mask is clear, in place. The mask packs one bit per value (32×
 * smaller than an f32 mask, so the pass costs little more than reading and writing the values).
 * `select` rather than a multiply, so a pruned value that became Inf or NaN is zeroed too. The
 * values are updated in place because WebGPU forbids binding one buffer as both the read operand
 * and the output of a dispatch, which rules out the elementwise multiply without a copy.
 */
function applyMaskShader(): string {
  return /* wgsl */ `
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read_write> values: array<f32>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.n) { return; }
  let keep = (mask[i / 32u] >> (i % 32u)) & 1u;
  values[i] = select(0.0, values[i], keep != 0u);
}
`;
}

/** Zeroes the values of n whose mask bit is clear. Bindings: values (updated), mask (⌈n/32⌉ u32 words). */
export function applyMaskSpec(n: number): KernelSpec {
  return {
    name: 'apply_mask',
    code: applyMaskShader(),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['write', 'read', 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: new UniformWriter().u32(n).finish(),
  };
}

/** The packed mask of n values, all kept. */
export function keepAllMask(n: number): Uint32Array {
  return new Uint32Array(Math.ceil(n / 32)).fill(0xffffffff);
}

/** Clears bit i: value i is pruned. */
export function clearBit(mask: Uint32Array, i: number): void {
  mask[i >>> 5] &= ~(1 << (i & 31));
}

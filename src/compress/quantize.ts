import { ShapeError } from '../gpu/errors.js';
import { CheckpointError, checkFinite, decodeSafetensors, encodeSafetensors, type Int8Tensor, type NamedTensor } from '../train/safetensors.js';
import { weightTensors, type TensorFilter } from './select.js';

/*
 * Post-training int8 quantisation of weights, per output channel and symmetric. It runs once on a
 * model of a few MB, so the arithmetic is plain CPU code: nothing here is worth a kernel.
 */

/** The scales of int8 tensor `name` are the F32 tensor `name + SCALE_SUFFIX`. */
export const SCALE_SUFFIX = '_scale';

/** How one tensor was quantised, and its worst rounding error. */
export interface TensorQuantization {
  name: string;
  shape: readonly number[];
  /** Largest per-channel scale; each value is off by at most half its channel's scale. */
  maxScale: number;
  /** max |w − int8 · scale| over the tensor, the dequantised value rounded to f32 as it is used. */
  maxAbsError: number;
}

/** Sizes before and after quantisation, and each tensor quantised. */
export interface QuantizationReport {
  /** Every tensor as F32. */
  bytesBefore: number;
  /** Int8 weights, their F32 scales, and the untouched F32 tensors. */
  bytesAfter: number;
  tensors: TensorQuantization[];
}

/**
 * A state dict with int8 weights. For each quantised weight `name` of shape [out, …]:
 *   - `name`: I8, the same shape, q = round(w / scale) with halves away from zero, in [−127, 127];
 *   - `name_scale`: F32 [out], scale = max|w| / 127 over that output channel (1 for a channel of
 *     zeros, which then stays exactly zero).
 * Every other tensor (biases, batch norm) is kept as F32 under its own name. In PyTorch:
 *   w = q.float() * scale.view(-1, *[1] * (q.dim() - 1))
 */
export interface QuantizedStateDict {
  tensors: (NamedTensor | Int8Tensor)[];
  report: QuantizationReport;
}

/**
 * Quantises the chosen weights (by default every '*.weight' of rank ≥ 2) of a state dict such as
 * `decodeSafetensors(await trainer.checkpoint()).tensors`. Symmetric, so zero (a pruned weight)
 * maps to exactly zero; per output channel, so one row of large weights does not coarsen the rest.
 * A NaN or infinite value anywhere is refused (CheckpointError naming the tensor and the index):
 * it would make its channel's scale, and so every code of the channel, meaningless.
 */
export function quantizeStateDict(tensors: Iterable<NamedTensor>, options: { include?: TensorFilter } = {}): QuantizedStateDict {
  const include = options.include ?? weightTensors;
  const input = [...tensors];
  checkFinite(input, 'quantize');
  const names = new Set(input.map((t) => t.name));
  const out: (NamedTensor | Int8Tensor)[] = [];
  const report: QuantizationReport = { bytesBefore: 0, bytesAfter: 0, tensors: [] };
  for (const t of input) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) throw new ShapeError(`quantize: '${t.name}' [${t.shape.join(', ')}] takes ${size} values, got ${t.data.length}`);
    report.bytesBefore += t.data.byteLength;
    if (!include(t.name, t.shape)) {
      out.push(t);
      report.bytesAfter += t.data.byteLength;
      continue;
    }
    const scaleName = t.name + SCALE_SUFFIX;
    if (names.has(scaleName)) throw new ShapeError(`quantize: '${t.name}' would store its scales as '${scaleName}', which the state dict already holds; rename that tensor`);
    if (t.shape.length === 0) throw new ShapeError(`quantize: '${t.name}' is a scalar; per-channel scales need an output dimension, so leave it out with 'include'`);
    const { q, scale, maxAbsError } = quantizeTensor(t);
    out.push(q, scale);
    report.bytesAfter += q.data.byteLength + scale.data.byteLength;
    report.tensors.push({ name: t.name, shape: t.shape, maxScale: scale.data.reduce((a, b) => Math.max(a, b), 0), maxAbsError });
  }
  return { tensors: out, report };
}

/** One weight [out, …] as int8 codes and per-row scales. */
function quantizeTensor(t: NamedTensor): { q: Int8Tensor; scale: NamedTensor; maxAbsError: number } {
  const rows = t.shape[0];
  const cols = t.data.length / rows;
  const codes = new Int8Array(t.data.length);
  const scales = new Float32Array(rows);
  let maxAbsError = 0;
  for (let r = 0; r < rows; r++) {
    const row = t.data.subarray(r * cols, (r + 1) * cols);
    let max = 0;
    for (const v of row) max = Math.max(max, Math.abs(v));
    // Stored as f32, and the codes are computed from the stored scale, so that dequantising with
    // it (as PyTorch would) is within half a step. A scale that underflows f32 becomes 1 as well.
    const scale = Math.fround(max / 127) || 1;
    scales[r] = scale;
    for (let c = 0; c < cols; c++) {
      const x = row[c] / scale;
      const q = Math.min(127, Math.max(-127, Math.sign(x) * Math.floor(Math.abs(x) + 0.5)));
      codes[r * cols + c] = q;
      maxAbsError = Math.max(maxAbsError, Math.abs(row[c] - Math.fround(q * scale)));
    }
  }
  return {
    q: { name: t.name, shape: t.shape, data: codes },
    scale: { name: t.name + SCALE_SUFFIX, shape: [rows], data: scales },
    maxAbsError,
  };
}

/**
 * Back to F32: each int8 tensor times its `_scale` (per output channel), the scale tensors dropped,
 * everything else unchanged, in the original order. Loading the result into a Trainer evaluates the
 * quantised model by simulation: the weights carry exactly the int8 rounding error, but the kernels
 * still compute in f32 (activations are not quantised and no int8 arithmetic runs), so it measures
 * what weight quantisation costs in accuracy, not the speed of an int8 engine.
 */
export function dequantizeStateDict(tensors: Iterable<NamedTensor | Int8Tensor>): NamedTensor[] {
  const all = [...tensors];
  const floats = new Map(all.filter((t): t is NamedTensor => t.data instanceof Float32Array).map((t) => [t.name, t]));
  const scaleNames = new Set(all.filter((t) => t.data instanceof Int8Array).map((t) => t.name + SCALE_SUFFIX));
  const out: NamedTensor[] = [];
  for (const t of all) {
    if (t.data instanceof Float32Array) {
      if (!scaleNames.has(t.name)) out.push(t as NamedTensor);
      continue;
    }
    const rows = t.shape[0] ?? 1;
    const scale = floats.get(t.name + SCALE_SUFFIX);
    if (!scale || scale.shape.length !== 1 || scale.shape[0] !== rows) {
      const found = scale ? `[${scale.shape.join(', ')}]` : 'missing';
      throw new CheckpointError(`dequantize: int8 '${t.name}' [${t.shape.join(', ')}] needs F32 '${t.name}${SCALE_SUFFIX}' of shape [${rows}], found ${found}`);
    }
    const cols = t.data.length / rows;
    const data = new Float32Array(t.data.length);
    for (let i = 0; i < data.length; i++) data[i] = t.data[i] * scale.data[Math.floor(i / cols)];
    out.push({ name: t.name, shape: t.shape, data });
  }
  return out;
}

/** The int8 state dict as safetensors (named as in `QuantizedStateDict`), its scheme in the metadata. */
export function encodeQuantizedSafetensors(q: QuantizedStateDict, metadata: Record<string, string> = {}): Uint8Array {
  return encodeSafetensors(q.tensors, { format: 'pt', quantization: 'int8 symmetric per output channel: w = q * scale[:, None, ...]', ...metadata });
}

/** Reads an int8 safetensors file and dequantises it to F32 tensors, ready for `Trainer.load`. */
export function dequantizeSafetensors(bytes: Uint8Array): NamedTensor[] {
  const { tensors, int8 } = decodeSafetensors(bytes);
  return dequantizeStateDict([...tensors.values(), ...int8.values()]);
}

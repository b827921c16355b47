import { CheckpointError, checkFinite, readSafetensorsLayout } from './safetensors_validate.js';

export { CheckpointError, checkFinite };

/**
 * The safetensors format (8-byte little-endian header length, JSON header, raw little-endian data):
 * the format PyTorch users load with `safetensors.torch.load_file`, so a checkpoint moves to PyTorch
 * without conversion.
 */
export interface NamedTensor {
  name: string;
  shape: readonly number[];
  data: Float32Array;
}

/** An int8 tensor (dtype I8), e.g. quantised weights; its scales travel as F32 tensors beside it. */
export interface Int8Tensor {
  name: string;
  shape: readonly number[];
  data: Int8Array;
}

/** Encodes tensors (F32, or I8 for quantised weights) and string metadata as a safetensors file; names must be unique. */
export function encodeSafetensors(tensors: readonly (NamedTensor | Int8Tensor)[], metadata: Record<string, string> = {}): Uint8Array {
  // No prototype, so a tensor named '__proto__' is an entry like any other.
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new CheckpointError(`checkpoint: tensor name '${t.name}' appears twice`);
    seen.add(t.name);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new CheckpointError(`checkpoint: '${t.name}' has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
  }
  // F32 data first, then I8, as the reference writer orders by dtype size: every F32 tensor then
  // starts 4-byte aligned however many int8 values there are.
  const laidOut = [...tensors.filter((t) => !(t.data instanceof Int8Array)), ...tensors.filter((t) => t.data instanceof Int8Array)];
  let offset = 0;
  for (const t of laidOut) {
    header[t.name] = { dtype: t.data instanceof Int8Array ? 'I8' : 'F32', shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of laidOut) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Options of `decodeSafetensors`. */
export interface DecodeOptions {
  /** Names the file in error messages (default 'checkpoint'). */
  source?: string;
  /** Refuse a NaN or an infinity in any F32 tensor (see `checkFinite`). */
  requireFinite?: boolean;
}

/**
 * F32 tensors (and I64 counters, converted) in `tensors`; I8 tensors, which are meaningless as
 * floats without their scales, apart in `int8`. The whole file is checked first (see
 * `readSafetensorsLayout`), so a malformed one fails with a CheckpointError naming the tensor and
 * the field, and nothing is returned from a file that is only partly right.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  options: DecodeOptions = {},
): { tensors: Map<string, NamedTensor>; int8: Map<string, Int8Tensor>; metadata: Record<string, string> } {
  const source = options.source ?? 'checkpoint';
  const { entries, metadata, dataStart } = readSafetensorsLayout(bytes, source);
  const data = bytes.subarray(dataStart);
  const tensors = new Map<string, NamedTensor>();
  const int8 = new Map<string, Int8Tensor>();
  for (const { name, dtype, shape, start, end } of entries) {
    // I64 appears for counters such as BatchNorm's num_batches_tracked in PyTorch's checkpoints.
    if (dtype !== 'F32' && dtype !== 'I64' && dtype !== 'I8') {
      throw new CheckpointError(`${source}: '${name}' has dtype ${dtype}; only F32, I8 (quantised weights) and I64 counters are supported`);
    }
    // Copy: the slice may not be aligned within the file.
    const raw = new Uint8Array(data.subarray(start, end)).buffer;
    if (dtype === 'I8') int8.set(name, { name, shape, data: new Int8Array(raw) });
    else tensors.set(name, { name, shape, data: dtype === 'I64' ? Float32Array.from(new BigInt64Array(raw), (v) => Number(v)) : new Float32Array(raw) });
  }
  if (options.requireFinite) checkFinite(tensors.values(), source);
  return { tensors, int8, metadata };
}

/**
 * Checks that a checkpoint holds exactly the expected tensors with the expected shapes; otherwise
 * throws one error listing every mismatch.
 */
export function checkCheckpoint(expected: ReadonlyMap<string, readonly number[]>, found: ReadonlyMap<string, NamedTensor>): void {
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const t = found.get(name);
    if (!t) problems.push(`missing '${name}' [${shape.join(', ')}]`);
    else if (t.shape.join() !== shape.join()) problems.push(`'${name}': checkpoint has [${t.shape.join(', ')}], model needs [${shape.join(', ')}]`);
  }
  for (const name of found.keys()) if (!expected.has(name)) problems.push(`unexpected '${name}'`);
  if (problems.length) throw new CheckpointError(`checkpoint does not match the model:\n  ${problems.join('\n  ')}`);
}

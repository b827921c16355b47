import { WebGPUDLError } from '../gpu/errors.js';

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

export class CheckpointError extends WebGPUDLError {}

export function encodeSafetensors(tensors: readonly (NamedTensor | Int8Tensor)[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
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

/**
 * F32 tensors (and I64 counters, converted) in `tensors`; I8 tensors, which are meaningless as
 * floats without their scales, apart in `int8`.
 */
export function decodeSafetensors(bytes: Uint8Array): { tensors: Map<string, NamedTensor>; int8: Map<string, Int8Tensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new CheckpointError('checkpoint: file is too short to be safetensors');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8) throw new CheckpointError('checkpoint: header length exceeds the file; not a safetensors file?');
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw new CheckpointError('checkpoint: header is not valid JSON; not a safetensors file?');
  }
  const data = bytes.subarray(8 + headerLength);
  const tensors = new Map<string, NamedTensor>();
  const int8 = new Map<string, Int8Tensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: [start, end] } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    // I64 appears for counters such as BatchNorm's num_batches_tracked in PyTorch's checkpoints.
    if (dtype !== 'F32' && dtype !== 'I64' && dtype !== 'I8') throw new CheckpointError(`checkpoint: '${name}' has dtype ${dtype}; only F32, I8 (quantised weights) and I64 counters are supported`);
    const count = shape.reduce((a, b) => a * b, 1);
    const width = { F32: 4, I64: 8, I8: 1 }[dtype];
    if (end - start !== width * count || end > data.length) throw new CheckpointError(`checkpoint: '${name}' has inconsistent offsets`);
    // Copy: the slice may not be aligned within the file.
    const raw = new Uint8Array(data.subarray(start, end)).buffer;
    if (dtype === 'I8') {
      int8.set(name, { name, shape, data: new Int8Array(raw) });
      continue;
    }
    const values = dtype === 'I64' ? Float32Array.from(new BigInt64Array(raw), (v) => Number(v)) : new Float32Array(raw);
    tensors.set(name, { name, shape, data: values });
  }
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

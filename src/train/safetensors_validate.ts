import { WebGPUDLError } from '../gpu/errors.js';
import { MAX_SAFETENSORS_HEADER_BYTES } from '../io/limits.js';

/** A malformed checkpoint, or one that does not fit the model; the message names the tensor and field. */
export class CheckpointError extends WebGPUDLError {
  override name = 'CheckpointError';
}

/** Bytes per element of every dtype the safetensors format defines (not all of which load). */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8,
};

/** One tensor of a checked header; `start` and `end` index the data section (after the header). */
export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  start: number;
  end: number;
}

/** A safetensors file's validated header: its tensors in data order, the metadata and where the data starts. */
export interface SafetensorsLayout {
  /** In file order of their data. */
  entries: TensorEntry[];
  metadata: Record<string, string>;
  /** Where the data section starts in the file. */
  dataStart: number;
}

/**
 * Checks everything the format requires before any tensor is read: the header length (at most
 * `MAX_SAFETENSORS_HEADER_BYTES` and within the file), a UTF-8 JSON object, every entry an object
 * with a known dtype, a shape of non-negative safe integers and two safe-integer data offsets whose
 * span is the shape's byte size, the spans in order, without overlap or gap, covering the data
 * section exactly, and `__metadata__` a map of strings. `source` names the file in the errors.
 */
export function readSafetensorsLayout(bytes: Uint8Array, source = 'checkpoint'): SafetensorsLayout {
  const fail = (what: string) => new CheckpointError(`${source}: ${what}`);
  if (bytes.length < 8) throw fail(`${bytes.length} bytes is too short to be safetensors (an 8-byte header length comes first)`);
  const declared = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (declared > BigInt(MAX_SAFETENSORS_HEADER_BYTES)) {
    throw fail(`header length ${declared} is over the limit of ${MAX_SAFETENSORS_HEADER_BYTES} bytes (MAX_SAFETENSORS_HEADER_BYTES); not a safetensors file?`);
  }
  const headerLength = Number(declared);
  if (headerLength > bytes.length - 8) throw fail(`header length exceeds the file: ${headerLength} bytes declared, ${bytes.length - 8} follow; not a safetensors file?`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw fail('header is not valid UTF-8 JSON; not a safetensors file?');
  }
  if (!isRecord(header)) throw fail(`header is ${describe(header)}, not a JSON object of tensors`);
  const dataStart = 8 + headerLength;
  const entries: TensorEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') metadata = checkMetadata(entry, fail);
    else entries.push(checkEntry(name, entry, fail));
  }
  checkCoverage(entries, bytes.length - dataStart, fail);
  return { entries, metadata, dataStart };
}

type Fail = (what: string) => CheckpointError;

function checkMetadata(entry: unknown, fail: Fail): Record<string, string> {
  if (!isRecord(entry)) throw fail(`__metadata__ is ${describe(entry)}; it must be an object of strings`);
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== 'string') throw fail(`__metadata__ '${key}' is ${describe(value)}; metadata values must be strings`);
  }
  return entry as Record<string, string>;
}

function checkEntry(name: string, entry: unknown, fail: Fail): TensorEntry {
  if (!isRecord(entry)) throw fail(`'${name}' is ${describe(entry)}; a tensor entry is an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string' || !(dtype in SAFETENSORS_DTYPE_BYTES)) {
    throw fail(`'${name}' dtype is ${describe(dtype)}; expected one of ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw fail(`'${name}' shape is ${describe(shape)}; expected an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    throw fail(`'${name}' data_offsets is ${describe(offsets)}; expected [start, end], two non-negative integers`);
  }
  const [start, end] = offsets as [number, number];
  if (start > end) throw fail(`'${name}' data_offsets [${start}, ${end}] end before they start`);
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  const byteLength = count * SAFETENSORS_DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(byteLength)) throw fail(`'${name}' shape [${(shape as number[]).join(', ')}] is too large to be stored (over 2^53 bytes)`);
  if (end - start !== byteLength) {
    throw fail(`'${name}' data_offsets [${start}, ${end}] span ${end - start} bytes, but ${dtype} [${(shape as number[]).join(', ')}] takes ${byteLength}`);
  }
  return { name, dtype, shape: shape as number[], start, end };
}

/** The spans must tile the data section: sorted, each starting where the previous ended. */
function checkCoverage(entries: TensorEntry[], dataLength: number, fail: Fail): void {
  entries.sort((a, b) => a.start - b.start || a.end - b.end);
  let at = 0;
  let previous: TensorEntry | undefined;
  for (const e of entries) {
    if (e.start < at) throw fail(`'${e.name}' data_offsets [${e.start}, ${e.end}] overlap '${previous!.name}' [${previous!.start}, ${previous!.end}]`);
    if (e.start > at) throw fail(`${e.start - at} bytes at data offset ${at} belong to no tensor (before '${e.name}' [${e.start}, ${e.end}]); the tensors must cover the data exactly`);
    at = e.end;
    previous = e;
  }
  if (at !== dataLength) {
    throw fail(at > dataLength
      ? `'${previous!.name}' data_offsets end at ${at}, past the ${dataLength} bytes of data; the file is truncated`
      : `the tensors cover ${at} bytes but the data section holds ${dataLength}; the file has ${dataLength - at} trailing bytes`);
  }
}

/**
 * Throws unless every value is finite, naming the first tensor holding a NaN or an infinity and
 * the index of that value: such a weight cannot be trained from or quantised.
 */
export function checkFinite(tensors: Iterable<{ name: string; shape: readonly number[]; data: Float32Array }>, source = 'checkpoint'): void {
  for (const t of tensors) {
    const i = t.data.findIndex((v) => !Number.isFinite(v));
    if (i < 0) continue;
    const index: number[] = [];
    let rest = i;
    for (let d = t.shape.length - 1; d >= 0; d--) {
      index.unshift(rest % t.shape[d]);
      rest = Math.floor(rest / t.shape[d]);
    }
    throw new CheckpointError(`${source}: '${t.name}' holds ${t.data[i]} at index [${index.join(', ')}] (flat ${i}); a weight must be a finite number`);
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function describe(x: unknown): string {
  if (x === undefined) return 'missing';
  const text = JSON.stringify(x);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

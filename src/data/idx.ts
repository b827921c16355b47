import { WebGPUDLError } from '../gpu/errors.js';
import { MAX_INFLATED_BYTES } from '../io/limits.js';

/** A dataset file in the IDX format, as the MNIST files are distributed. */
export interface IdxArray {
  /** Dimension sizes from the header, e.g. [60000, 28, 28]. */
  shape: number[];
  /** Element data; MNIST images and labels are unsigned bytes. */
  data: Uint8Array;
}

/** A malformed or unsupported dataset file; the message names the file and what is wrong. */
export class DatasetError extends WebGPUDLError {
  override name = 'DatasetError';
}

const GZIP_MAGIC = [0x1f, 0x8b];
const UBYTE = 0x08;

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/** Options of `parseIdx`. */
export interface ParseIdxOptions {
  /** The most bytes a gzip file may inflate to (default `MAX_INFLATED_BYTES`, 2 GiB). */
  maxInflatedBytes?: number;
}

/**
 * Parses an IDX file (raw, or gzip-compressed as it is usually downloaded). Only unsigned-byte
 * element data is accepted: that is what image and label files hold. A gzip file is inflated
 * piece by piece and stopped as soon as it passes the size its own IDX header declares (or the
 * limit), so a small file that inflates to gigabytes costs little time or memory.
 */
export async function parseIdx(file: Uint8Array, name = 'IDX file', options: ParseIdxOptions = {}): Promise<IdxArray> {
  const bytes = isGzip(file) ? await inflateIdx(file, name, options.maxInflatedBytes ?? MAX_INFLATED_BYTES) : file;
  const header = readIdxHeader(bytes, name);
  if (!header) throw new DatasetError(`${name}: header is truncated (${bytes.length} bytes)`);
  const { shape, start, total } = header;
  if (bytes.length !== total) {
    throw new DatasetError(`${name}: header says [${shape.join(', ')}] = ${total - start} bytes of data, but the file holds ${bytes.length - start}`);
  }
  return { shape, data: bytes.subarray(start) };
}

/**
 * The shape and total file size an IDX header declares, or undefined while `bytes` is too short
 * to hold the whole header; throws on a header that is wrong already.
 */
function readIdxHeader(bytes: Uint8Array, name: string): { shape: number[]; start: number; total: number } | undefined {
  if ((bytes.length >= 1 && bytes[0] !== 0) || (bytes.length >= 2 && bytes[1] !== 0)) {
    throw new DatasetError(`${name}: not an IDX file (the first two bytes must be zero)`);
  }
  if (bytes.length >= 3 && bytes[2] !== UBYTE) {
    throw new DatasetError(`${name}: element type 0x${bytes[2].toString(16)} is not supported; expected unsigned bytes (0x08)`);
  }
  if (bytes.length >= 4 && bytes[3] === 0) throw new DatasetError(`${name}: header declares 0 dimensions; expected at least 1`);
  if (bytes.length < 4 || bytes.length < 4 + 4 * bytes[3]) return undefined;
  const rank = bytes[3];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const start = 4 + 4 * rank;
  // A product of up to 255 uint32 values can pass 2^53; it then only needs to compare as too big.
  return { shape, start, total: start + shape.reduce((a, b) => a * b, 1) };
}

/**
 * Inflates a gzip IDX file, refusing output past the size its header declares or `limit`. The
 * input goes to the decompressor in small slices, pulled only as output is consumed, so at most
 * about one slice's worth of output (a few MB) is made beyond the point where it stops.
 */
async function inflateIdx(file: Uint8Array, name: string, limit: number): Promise<Uint8Array> {
  const SLICE = 4096;
  let offset = 0;
  const input = new ReadableStream<BufferSource>(
    {
      pull(controller) {
        if (offset >= file.length) return controller.close();
        controller.enqueue(file.slice(offset, offset + SLICE));
        offset += SLICE;
      },
    },
    { highWaterMark: 0 },
  );
  const reader = input.pipeThrough(new DecompressionStream('gzip')).getReader();
  // Chunks are kept until the header is complete, then copied into one buffer of the declared size.
  let chunks: Uint8Array[] = [];
  let out: Uint8Array | undefined;
  let inflated = 0;
  const tooBig = (what: string) => new DatasetError(`${name}: gzip data inflates past ${what}; stopped after ${inflated} inflated bytes`);
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (cause) {
        throw new DatasetError(`${name}: looks gzip-compressed but does not inflate (${(cause as Error).message})`);
      }
      if (next.done) break;
      const at = inflated;
      inflated += next.value.length;
      if (out) {
        if (inflated > out.length) throw tooBig(`the ${out.length} bytes its IDX header declares`);
        out.set(next.value, at);
        continue;
      }
      chunks.push(next.value);
      const sofar = concat(chunks, inflated);
      chunks = [sofar];
      const header = readIdxHeader(sofar, name);
      if (!header) continue;
      if (header.total > limit) {
        throw new DatasetError(`${name}: header declares [${header.shape.join(', ')}] = ${header.total} bytes, over the limit of ${limit} inflated bytes (${limit === MAX_INFLATED_BYTES ? 'MAX_INFLATED_BYTES' : 'the maxInflatedBytes option'})`);
      }
      if (inflated > header.total) throw tooBig(`the ${header.total} bytes its IDX header declares`);
      out = new Uint8Array(header.total);
      out.set(sofar);
      chunks = [];
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  }
  // Short of the declared size, the caller's size check names both figures.
  return out ? out.subarray(0, inflated) : concat(chunks, inflated);
}

/** The chunks of a stream read as one array of `length` bytes. */
export function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Writes an unsigned-byte IDX file (for tests and for exporting datasets). */
export function encodeIdx(shape: readonly number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * shape.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = UBYTE;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * shape.length);
  return out;
}

import { WebGPUDLError } from '../gpu/errors.js';

/** A dataset file in the IDX format, as the MNIST files are distributed. */
export interface IdxArray {
  /** Dimension sizes from the header, e.g. [60000, 28, 28]. */
  shape: number[];
  /** Element data; MNIST images and labels are unsigned bytes. */
  data: Uint8Array;
}

/** A malformed or unsupported dataset file; the message names the file and what is wrong. */
export class DatasetError extends WebGPUDLError {}

const GZIP_MAGIC = [0x1f, 0x8b];
const UBYTE = 0x08;

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/** Inflates gzip with the platform's DecompressionStream (browsers and Node 18+). */
export async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Parses an IDX file (raw, or gzip-compressed as it is usually downloaded). Only unsigned-byte
 * element data is accepted: that is what image and label files hold.
 */
export async function parseIdx(file: Uint8Array, name = 'IDX file'): Promise<IdxArray> {
  let bytes = file;
  if (isGzip(bytes)) {
    try {
      bytes = await gunzip(bytes);
    } catch (cause) {
      throw new DatasetError(`${name}: looks gzip-compressed but does not inflate (${(cause as Error).message})`);
    }
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DatasetError(`${name}: not an IDX file (the first two bytes must be zero)`);
  }
  if (bytes[2] !== UBYTE) {
    throw new DatasetError(`${name}: element type 0x${bytes[2].toString(16)} is not supported; expected unsigned bytes (0x08)`);
  }
  const rank = bytes[3];
  if (rank < 1 || bytes.length < 4 + 4 * rank) throw new DatasetError(`${name}: header is truncated`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * rank;
  if (bytes.length - start !== count) {
    throw new DatasetError(
      `${name}: header says [${shape.join(', ')}] = ${count} bytes of data, but the file holds ${bytes.length - start}`,
    );
  }
  return { shape, data: bytes.subarray(start) };
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

import { MAX_INFLATED_BYTES } from '../io/limits.js';
import { cifarSplits } from './cifar.js';
import type { ImageSplits } from './dataset.js';
import { DatasetError } from './idx.js';

/**
 * Inflates gzip data, refusing output past `limit` bytes (default MAX_INFLATED_BYTES). Input goes
 * to the decompressor in slices pulled only as output is consumed, so a small file that inflates
 * to gigabytes stops after about one slice past the limit. Browser and Node alike.
 */
export async function gunzipWithin(file: Uint8Array, name: string, limit = MAX_INFLATED_BYTES): Promise<Uint8Array> {
  const SLICE = 1 << 16;
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
  const chunks: Uint8Array[] = [];
  let inflated = 0;
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (cause) {
        throw new DatasetError(`${name}: looks gzip-compressed but does not inflate (${(cause as Error).message}); the download may be incomplete`);
      }
      if (next.done) break;
      inflated += next.value.length;
      if (inflated > limit) {
        throw new DatasetError(`${name}: gzip data inflates past ${limit} bytes (${limit === MAX_INFLATED_BYTES ? 'MAX_INFLATED_BYTES' : 'the limit given'}); unpack it yourself and pass the folder`);
      }
      chunks.push(next.value);
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  }
  const out = new Uint8Array(inflated);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const BLOCK = 512;

/**
 * The regular files of a tar archive (ustar or GNU, as `tar czf` writes), by their path inside it;
 * the contents are views into `tar`. Folders, links and other entries are skipped. A header whose
 * checksum is wrong, or a file running past the end, is a DatasetError naming the archive.
 */
export function untar(tar: Uint8Array, name: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const text = (from: number, length: number) => {
    const field = tar.subarray(from, from + length);
    const end = field.indexOf(0);
    return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
  };
  const octal = (from: number, length: number) => parseInt(text(from, length).trim() || '0', 8);
  let longName: string | undefined;
  for (let at = 0; at + BLOCK <= tar.length; ) {
    const header = tar.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i];
    if (sum !== octal(at + 148, 8)) throw new DatasetError(`${name}: the tar header at byte ${at} has a wrong checksum; the archive is damaged or not a tar file`);
    const size = octal(at + 124, 12);
    const type = String.fromCharCode(header[156] || 48);
    const prefix = text(at + 345, 155);
    const path = longName ?? (prefix ? `${prefix}/${text(at, 100)}` : text(at, 100));
    const data = at + BLOCK;
    if (data + size > tar.length) throw new DatasetError(`${name}: ${path} runs past the end of the archive (${size} bytes declared); the download is incomplete`);
    longName = undefined;
    // GNU long names: the next entry's path is this entry's data.
    if (type === 'L') longName = text(data, size);
    else if (type === '0' || type === '7') files.set(path, tar.subarray(data, data + size));
    at = data + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}

/**
 * A minimal ustar archive of `files` (path → bytes): what tests and the colour-dataset writer need
 * to produce a tar.gz as the CIFAR-10 distribution is packed. Paths up to 100 bytes.
 */
export function tarOf(files: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  const encoder = new TextEncoder();
  for (const [path, data] of files) {
    const header = new Uint8Array(BLOCK);
    const put = (from: number, value: string) => header.set(encoder.encode(value), from);
    const name = encoder.encode(path);
    if (name.length > 100) throw new DatasetError(`tar: path ${path} is longer than 100 bytes`);
    header.set(name, 0);
    put(100, '0000644\0');
    put(108, '0000000\0');
    put(116, '0000000\0');
    put(124, `${data.length.toString(8).padStart(11, '0')}\0`);
    put(136, '00000000000\0');
    header.fill(32, 148, 156);
    header[156] = 48;
    put(257, 'ustar\x0000');
    const sum = header.reduce((a, b) => a + b, 0);
    put(148, `${sum.toString(8).padStart(6, '0')}\0 `);
    parts.push(header, data, new Uint8Array((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  parts.push(new Uint8Array(2 * BLOCK));
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** gzip-compresses `bytes` (CompressionStream; browser and Node). */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * CIFAR-10 splits from the distributed cifar-10-binary.tar.gz (or any tar.gz holding the binary
 * batches in one folder), read in memory: browser and Node alike. `name` names it in messages.
 */
export async function cifarFromTarGz(bytes: Uint8Array, name: string, options: { classes?: number } = {}): Promise<ImageSplits> {
  const files = untar(await gunzipWithin(bytes, name), name);
  const byBase = new Map<string, Uint8Array>();
  for (const [path, data] of files) byBase.set(path.slice(path.lastIndexOf('/') + 1), data);
  return cifarSplits((file) => byBase.get(file), name, options);
}

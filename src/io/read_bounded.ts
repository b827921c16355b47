import type { WebGPUDLError } from '../gpu/errors.js';

/** The typed error a reader raises: DatasetError for data files, CheckpointError for checkpoints. */
export type FileErrorClass = new (message: string) => WebGPUDLError;

/** Options of `readFileWithin`: the size limit, its name for messages, and the error class to throw. */
export interface BoundedReadOptions {
  /** Files larger than this many bytes are refused before any is read. */
  limit: number;
  /** The name of the limit, quoted in the error so a user can find it (e.g. 'MAX_CHECKPOINT_FILE_BYTES'). */
  limitName: string;
  error: FileErrorClass;
  /** How messages name the file, e.g. '--weights w.safetensors'; default the path. */
  label?: string;
  /** Resolve to undefined when the file does not exist, instead of raising. */
  missingOk?: boolean;
}

/**
 * Node: the bytes of a regular file of at most `limit` bytes, read exactly up to the size it had
 * when opened. Devices (/dev/zero), FIFOs and folders are refused at once, since they have no size
 * to bound the read by; so is a file that shrinks while being read.
 */
export async function readFileWithin(path: string, o: BoundedReadOptions & { missingOk: true }): Promise<Uint8Array | undefined>;
export async function readFileWithin(path: string, o: BoundedReadOptions): Promise<Uint8Array>;
export async function readFileWithin(path: string, o: BoundedReadOptions): Promise<Uint8Array | undefined> {
  const fs = await import('node:fs/promises');
  const { constants } = await import('node:fs');
  const label = o.label ?? path;
  let handle;
  try {
    // Non-blocking, so that opening a FIFO returns at once (to be refused below) instead of waiting
    // for a writer; regular files ignore the flag.
    handle = await fs.open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && o.missingOk) return undefined;
    throw new o.error(`${label}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      const kind = stat.isDirectory() ? 'a folder' : stat.isFIFO() ? 'a FIFO' : stat.isCharacterDevice() || stat.isBlockDevice() ? 'a device' : 'not a regular file';
      throw new o.error(`${label}: is ${kind}, not a regular file; give the path of a file`);
    }
    if (stat.size > o.limit) {
      throw new o.error(`${label}: the file holds ${stat.size} bytes, over the limit of ${o.limit} (${o.limitName})`);
    }
    const bytes = new Uint8Array(stat.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) throw new o.error(`${label}: the file shrank from ${stat.size} to ${filled} bytes while it was read`);
      filled += bytesRead;
    }
    return bytes;
  } finally {
    await handle.close();
  }
}

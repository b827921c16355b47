import { WebGPUDLError } from '../gpu/errors.js';

/** A file could not be written; the target, if it existed, is unchanged. */
export class FileWriteError extends WebGPUDLError {
  override name = 'FileWriteError';
  constructor(
    readonly path: string,
    /** The system's error code (ENOSPC, EACCES, …), or 'STOPPED' for a write stopped by a fault hook. */
    readonly code: string | undefined,
    detail: string,
  ) {
    super(`${path}: could not be written (${detail}); the file there, if any, is unchanged`);
  }
}

/**
 * A fault injected into a write, for tests of what survives a crash: once `afterBytes` bytes are
 * written (counted over all the files of one call, in order) and more are due, either `error` is raised as the system
 * would raise it (an ENOSPC-coded error for a full disk), or, with `stop`, writing stops there
 * without any clean-up, as when the process is killed. Either way the call rejects.
 */
export type WriteFault = { afterBytes: number } & ({ error: Error } | { stop: true });

/** Options of the atomic writers; `fault` is for tests, which make a write fail or stop part way. */
export interface AtomicWriteOptions {
  fault?: WriteFault;
}

/** One file of a set written together by `writeFilesAtomically`. */
export interface FileToWrite {
  path: string;
  data: Uint8Array;
}

/** Writes are issued in chunks of this size, so a fault can land inside a file. */
const CHUNK = 1 << 20;

/**
 * Node: writes each file to a temporary file in its target's folder, flushes it to disk, and only
 * when every one is complete renames them over their targets. A reader therefore sees each target
 * either whole and old or whole and new, never cut short; and if any temporary write fails (full
 * disk, permissions), no target changes. Files that belong together (weights and optimizer state)
 * are given in one call for that reason; they also carry the same run id and step, so that the
 * rare crash between the renames is caught when the pair is loaded.
 */
export async function writeFilesAtomically(files: readonly FileToWrite[], options: AtomicWriteOptions = {}): Promise<void> {
  const fs = await import('node:fs/promises');
  const nodePath = await import('node:path');
  const temps: string[] = [];
  let budget = options.fault ? options.fault.afterBytes : Infinity;
  try {
    for (const { path, data } of files) {
      const temp = nodePath.join(nodePath.dirname(path), `.${nodePath.basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
      let handle;
      try {
        handle = await fs.open(temp, 'wx');
      } catch (e) {
        throw asWriteError(path, e);
      }
      temps.push(temp);
      try {
        for (let at = 0; at < data.length; at += CHUNK) {
          const piece = data.subarray(at, at + CHUNK);
          if (piece.length > budget) {
            await writeAll(handle, piece.subarray(0, budget));
            throw injected(path, options.fault!);
          }
          await writeAll(handle, piece);
          budget -= piece.length;
        }
        await handle.sync();
      } catch (e) {
        throw asWriteError(path, e);
      } finally {
        await handle.close();
      }
    }
  } catch (e) {
    // A killed process removes nothing; anything else leaves no temporary file behind.
    if (!(e instanceof FileWriteError && e.code === 'STOPPED')) await Promise.all(temps.map((t) => fs.rm(t, { force: true })));
    throw e;
  }
  for (let i = 0; i < files.length; i++) {
    try {
      await fs.rename(temps[i], files[i].path);
    } catch (e) {
      await Promise.all(temps.slice(i).map((t) => fs.rm(t, { force: true })));
      throw asWriteError(files[i].path, e);
    }
  }
  await syncFolders(files.map((f) => nodePath.dirname(f.path)));
}

/** One file, written as `writeFilesAtomically` writes each. */
export function writeFileAtomically(path: string, data: Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  return writeFilesAtomically([{ path, data }], options);
}

/**
 * Why `path` cannot take an output file, or undefined if it can: its folder must exist and be
 * writable, and the path itself must be absent or a regular file (renaming over a folder fails,
 * and over a device such as /dev/null or a link would replace it).
 */
export async function outputPathProblem(path: string): Promise<string | undefined> {
  const fs = await import('node:fs/promises');
  const { constants } = await import('node:fs');
  const nodePath = await import('node:path');
  const dir = nodePath.dirname(nodePath.resolve(path));
  const folder = await fs.stat(dir).catch(() => undefined);
  if (!folder) return `the folder ${dir} does not exist; create it first`;
  if (!folder.isDirectory()) return `${dir} is not a folder`;
  try {
    await fs.access(dir, constants.W_OK);
  } catch {
    return `the folder ${dir} is not writable`;
  }
  const target = await fs.lstat(path).catch(() => undefined);
  if (target?.isDirectory()) return 'is a folder; give a file name inside it';
  // Renaming over a link would replace the link, not the file it points to.
  if (target?.isSymbolicLink()) return 'is a symbolic link; give the path of the file it points to';
  if (target && !target.isFile()) return 'exists and is not a regular file';
  return undefined;
}

async function writeAll(handle: import('node:fs/promises').FileHandle, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length; ) done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten;
}

function injected(path: string, fault: WriteFault): Error {
  return 'stop' in fault ? new FileWriteError(path, 'STOPPED', `stopped after ${fault.afterBytes} bytes by the fault hook`) : fault.error;
}

function asWriteError(path: string, e: unknown): FileWriteError {
  if (e instanceof FileWriteError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const detail = code === 'ENOSPC' ? 'the disk is full' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
  return new FileWriteError(path, code, code && !detail.includes(code) ? `${code}: ${detail}` : detail);
}

/** Makes the renames themselves durable; some platforms cannot open a folder, which costs nothing there. */
async function syncFolders(dirs: readonly string[]): Promise<void> {
  const fs = await import('node:fs/promises');
  for (const dir of new Set(dirs)) {
    const handle = await fs.open(dir, 'r').catch(() => undefined);
    await handle?.sync().catch(() => {});
    await handle?.close();
  }
}

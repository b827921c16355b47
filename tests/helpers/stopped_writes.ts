import type * as AtomicWrite from '../../src/io/atomic_write.js';

/**
 * A stand-in for the process-wide atomic writer that can be stopped after a given number of
 * writes, as a crash would stop it: the write in progress fails with a STOPPED FileWriteError and
 * leaves the files it was replacing as they were. A test file installs it with
 *
 *   vi.mock('../../src/io/atomic_write.js', async (original) => (await import('../helpers/stopped_writes.js')).stoppableWriter(await original()));
 *
 * (vi.mock is hoisted above the imports, so its factory loads this module itself; the test's own
 * import of `writesStoppedAfter` gets the same module, hence the same counter).
 */
const stop = { writes: 0, allowed: Infinity };

/** The real module `m`, its writeFilesAtomically failing once the allowed writes are used up. */
export function stoppableWriter(m: typeof AtomicWrite): typeof AtomicWrite {
  return {
    ...m,
    writeFilesAtomically: (files, options) => {
      if (++stop.writes > stop.allowed) return Promise.reject(new m.FileWriteError(files[0].path, 'STOPPED', 'the process was stopped'));
      return m.writeFilesAtomically(files, options);
    },
  };
}

/** Runs `work` with the writer stopping after `allowed` more writes, then lets writes through again. */
export async function writesStoppedAfter<T>(allowed: number, work: () => Promise<T>): Promise<T> {
  stop.writes = 0;
  stop.allowed = allowed;
  try {
    return await work();
  } finally {
    stop.allowed = Infinity;
  }
}

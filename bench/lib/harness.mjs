// The workload loop of the benchmark (bench/run.mjs) and its atomic JSON writer, apart from the
// browser so that tests can drive them. Plain JS so Node runs it without a build; types in
// harness.d.mts.
import { access, constants, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Rejects with `message` if `promise` has not settled after `ms`. */
export function within(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs `run(workload)` for each workload in turn, each within `timeoutMs`. Every finished result
 * is kept. At the first workload that fails or times out the loop stops, since the page may still
 * be busy with it and would skew any later timing; it returns which one failed, why, and which
 * were not run.
 */
export async function runWorkloads(workloads, run, { timeoutMs, onResult = () => {} }) {
  const results = [];
  for (let i = 0; i < workloads.length; i++) {
    const w = workloads[i];
    try {
      const result = await within(run(w), timeoutMs, `workload ${w.id} took longer than ${timeoutMs / 1e3} s (raise --timeout)`);
      results.push(result);
      onResult(w, result);
    } catch (error) {
      const notRun = workloads.slice(i + 1).map((x) => x.id);
      return { results, failed: { id: w.id, error: String(error?.message ?? error).split('\n')[0] }, notRun };
    }
  }
  return { results };
}

/**
 * Writes `value` as JSON to `path` through a temporary file in the same folder, flushed and then
 * renamed over it: a crash or a full disk leaves the old file whole, never a truncated one.
 */
export async function writeJsonAtomically(path, value) {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, path);
}

/** Throws unless `path` could take the JSON report: checked before the benchmark starts, not after. */
export async function checkOutputFile(path) {
  const folder = dirname(path);
  try {
    await access(folder, constants.W_OK);
  } catch {
    throw new Error(`--out ${path}: the folder ${folder} does not exist or is not writable`);
  }
  const target = await stat(path).catch(() => undefined);
  if (target && !target.isFile()) throw new Error(`--out ${path}: exists and is not a regular file`);
}

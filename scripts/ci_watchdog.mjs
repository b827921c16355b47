// Watches the vitest worker processes of a CI run and kills one whose main thread has been stuck in
// a native lock for a long time, so that CI's re-run of unfinished test files can take over.
//
// Why: Dawn on the SwiftShader software driver, under load, rarely deadlocked inside
// InstanceBase::ProcessEvents (the main thread waits on a mutex forever). The event loop is blocked
// there, so vitest's own test timeouts never fire and the run would hang until CI's time limit.
// The crashes seen in the same function came from a WebGPU instance collected while its devices
// still had work (src/gpu/acquire.ts now keeps one instance per process); the watchdog stays, so
// that a deadlock of any cause ends in a re-run that CI reports rather than a hang.
// A worker merely waiting for a browser (the e2e tests) sleeps in epoll, not in a futex, and a
// worker waiting for the software GPU burns CPU on its other threads but also returns to its event
// loop within seconds; neither matches "main thread in a futex with no CPU time for STUCK_SECONDS".
//
// usage: node scripts/ci_watchdog.mjs PARENT_PID   (exits when PARENT_PID is gone)
import { readdirSync, readFileSync } from 'node:fs';

const STUCK_SECONDS = Number(process.env.CI_WATCHDOG_SECONDS ?? 180);
const POLL_MS = 10_000;
const parent = Number(process.argv[2]);
if (!Number.isInteger(parent) || parent <= 0) {
  console.error('usage: node scripts/ci_watchdog.mjs PARENT_PID');
  process.exit(2);
}

const read = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};
const alive = (pid) => read(`/proc/${pid}/stat`) !== undefined;

/** Main-thread CPU ticks (user + system) and where it sleeps, or undefined if the process is gone. */
function mainThread(pid) {
  const stat = read(`/proc/${pid}/task/${pid}/stat`);
  const wchan = read(`/proc/${pid}/task/${pid}/wchan`);
  if (stat === undefined || wchan === undefined) return undefined;
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ticks: Number(fields[11]) + Number(fields[12]), wchan: wchan.trim() };
}

function vitestWorkers() {
  const pids = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = read(`/proc/${entry}/cmdline`);
    if (cmdline?.includes('vitest/dist/workers/forks.js')) pids.push(Number(entry));
  }
  return pids;
}

/** pid → { ticks, since }: when its main thread was last seen using CPU or outside a futex. */
const watched = new Map();
const timer = setInterval(() => {
  if (!alive(parent)) {
    clearInterval(timer);
    return;
  }
  const now = Date.now();
  const seen = new Set();
  for (const pid of vitestWorkers()) {
    seen.add(pid);
    const t = mainThread(pid);
    if (!t) continue;
    const last = watched.get(pid);
    if (!last || last.ticks !== t.ticks || !t.wchan.includes('futex')) {
      watched.set(pid, { ticks: t.ticks, since: now });
      continue;
    }
    if (now - last.since >= STUCK_SECONDS * 1000) {
      console.error(`ci: watchdog: vitest worker ${pid} has been blocked in a native lock (${t.wchan}) for ${STUCK_SECONDS} s with no CPU time; killing it so its test file is re-run`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      watched.delete(pid);
    }
  }
  for (const pid of watched.keys()) if (!seen.has(pid)) watched.delete(pid);
}, POLL_MS);

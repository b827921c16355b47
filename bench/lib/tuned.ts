import type { Engine } from '../../src/gpu/engine.js';
import type { Runner, Workload } from '../workload.js';

/**
 * Our runner for `w` on tuned kernels. A compile no longer times kernels: it takes the stored,
 * shipped or default configuration and queues untuned shape classes for the background tuner. So
 * the workload is built once (queueing its shape classes), the tuner is let finish, the engine is
 * told to use the winners, and the runner measured is built again. Workloads that tune their
 * kernels themselves (`tuneNow`) pay only for one extra set-up.
 */
export async function tunedRunner(engine: Engine, w: Workload): Promise<Runner> {
  const first = await w.ours(engine);
  try {
    await first.run();
  } finally {
    first.dispose();
  }
  await engine.tuner.settled();
  engine.tuner.refresh();
  return w.ours(engine);
}

import { createEngine, type Engine } from '../gpu/engine.js';
import { summarizeTimings } from '../gpu/profiler.js';
import type { Trainer } from '../train/trainer.js';
import { UsageError } from './options.js';
import { classifierTrainer, describeRun, loadSplits } from './classifier.js';
import { count, modelOf, parseFlags, seedOf } from './options.js';

export const PROFILE_USAGE = `usage: webgpu-dl profile [options]

Times every GPU kernel of one training step with timestamp queries and prints them, largest first
(after two warm-up steps; the steps are real and use the first batch of the training data).

options:
  --model mlp|cnn   model to profile (default mlp; see webgpu-dl train --help)
  --batch N         samples per step (default 128)
  --data DIR        folder with the four IDX files (default: MNIST)
  --seed N          seed for initialisation (default 1)
  --json            print one JSON object instead of a table
  -h, --help        show this help`;

export async function profileCommand(argv: string[]): Promise<void> {
  const values = parseFlags(argv, {
    model: { type: 'string' },
    batch: { type: 'string' },
    data: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return void console.log(PROFILE_USAGE);
  const model = modelOf(values.model, ['mlp', 'cnn']);
  const batch = count('batch', values.batch, 128);
  const seed = seedOf(values.seed);
  const splits = await loadSplits(values.data);
  if (batch > splits.train.count) throw new UsageError(`--batch ${batch}: the training set has only ${splits.train.count} samples`);
  let engine: Engine | undefined;
  let trainer: Trainer | undefined;
  try {
    engine = await createEngine({ log: (m) => console.error(m) });
    console.error(describeRun(engine, splits));
    trainer = classifierTrainer(engine, model, splits, { lr: 1e-3, seed });
    const timings = await trainer.profile(splits.train, { batchSize: batch });
    const kernels = summarizeTimings(timings);
    const totalMs = timings.reduce((a, t) => a + t.ms, 0);
    if (values.json) {
      console.log(JSON.stringify({ event: 'profile', model, batch, launches: timings.length, totalMs, kernels }));
      return;
    }
    const width = Math.max(6, ...kernels.map((k) => k.name.length));
    console.log(`${'kernel'.padEnd(width)}  launches     ms/step   share`);
    for (const k of kernels) {
      console.log(`${k.name.padEnd(width)}  ${String(k.launches).padStart(8)}  ${k.ms.toFixed(3).padStart(10)}  ${(100 * k.share).toFixed(1).padStart(5)}%`);
    }
    console.log(`${'total'.padEnd(width)}  ${String(timings.length).padStart(8)}  ${totalMs.toFixed(3).padStart(10)}`);
    console.log(`(${model}, batch ${batch}: ${((batch * 1000) / totalMs).toFixed(0)} samples/s of GPU time; each kernel ran in a pass of its own)`);
  } finally {
    trainer?.dispose();
    await engine?.close();
  }
}

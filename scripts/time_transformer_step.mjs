// Seconds per training step of the character transformer on this machine's adapter, and where a
// step's GPU time goes (each kernel timed in a pass of its own). Uses the built package: run
// `npm run build` first. Usage: node scripts/time_transformer_step.mjs TEXT [steps=10] [--profile] [--launches]
import { readFileSync } from 'node:fs';
import { AdamW, charTransformer, createEngine, summarizeTimings, TextTrainer, textCorpus } from '../dist/webgpu-dl.js';

const args = process.argv.slice(2);
const profile = args.includes('--profile');
// With --launches, every kernel in launch order instead of the sum per kernel.
const launches = args.includes('--launches');
const [file, stepsText = '10'] = args.filter((a) => !a.startsWith('--'));
if (!file) throw new Error('usage: node scripts/time_transformer_step.mjs TEXT [steps] [--profile] [--launches]');
const steps = Number(stepsText);
const config = { context: 64, layers: 4, heads: 4, dim: 128, dropout: 0 };
const engine = await createEngine({ log: (m) => console.error(m) });
const corpus = textCorpus(new Uint8Array(readFileSync(file)), { context: config.context, source: file });
const model = charTransformer({ vocab: corpus.vocab.length, ...config });
const optimizer = new AdamW({ lr: 1e-3, beta1: 0.9, beta2: 0.99, weightDecay: 0.1 });
const trainer = await TextTrainer.create(engine, { model, corpus, optimizer, batch: 12, seed: 1, clipNorm: 1 });
try {
  // Two warm-up steps: pipelines are created and the tuner answers on the first runs.
  for (let i = 0; i < 2; i++) trainer.trainStep(1e-3);
  await engine.device.queue.onSubmittedWorkDone();
  const times = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    trainer.trainStep(1e-3);
    await engine.device.queue.onSubmittedWorkDone();
    times.push((performance.now() - t) / 1000);
  }
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  console.log(JSON.stringify({ event: 'steps', steps, secondsPerStep: mean, min: Math.min(...times), max: Math.max(...times) }));
  if (profile) {
    const timings = await trainer.profile(1e-3);
    if (launches) for (const [i, t] of timings.entries()) console.log(`${String(i).padStart(3)} ${t.name.padEnd(48)} ${t.ms.toFixed(1).padStart(9)} ms`);
    const kernels = summarizeTimings(timings);
    for (const k of kernels) console.log(`${k.name.padEnd(48)} ${String(k.launches).padStart(4)} ${k.ms.toFixed(1).padStart(9)} ms ${(100 * k.share).toFixed(1).padStart(5)}%`);
  }
} finally {
  trainer.dispose();
  await engine.close();
}

import { computePruningMasks, type Pruner } from '../compress/prune.js';
import { dequantizeStateDict, encodeQuantizedSafetensors, quantizeStateDict } from '../compress/quantize.js';
import { createEngine, type Engine } from '../gpu/engine.js';
import { outputPathProblem, writeFileAtomically } from '../io/atomic_write.js';
import { MAX_CHECKPOINT_FILE_BYTES } from '../io/limits.js';
import { readFileWithin } from '../io/read_bounded.js';
import { CheckpointError, decodeSafetensors, encodeSafetensors } from '../train/safetensors.js';
import { cosine } from '../train/schedules.js';
import type { Trainer } from '../train/trainer.js';
import { UsageError } from './options.js';
import { classifierTrainer, describeRun, limit, loadSplits } from './classifier.js';
import { count, modelOf, parseFlags, real, seedOf } from './options.js';

export const COMPRESS_USAGE = `usage: webgpu-dl compress --weights FILE [options]

Compresses a classifier trained by \`webgpu-dl train --out FILE\`: magnitude pruning, fine-tuning
with the pruned weights held at zero, and int8 quantisation, with the test accuracy measured after
each stage.

options:
  --weights FILE          the trained weights (safetensors from webgpu-dl train --out); required
  --model mlp|cnn         the model those weights belong to (default mlp)
  --prune S               zero the fraction S of the weights with the smallest magnitude,
                          0 <= S < 1 (default 0: no pruning); biases are kept
  --scope global|per-layer  rank all weights together (default) or each layer on its own
  --finetune N            epochs of fine-tuning after pruning (default 1 when pruning, else 0)
  --lr X                  fine-tuning Adam learning rate, annealed by cosine (default 0.0001)
  --batch N               fine-tuning samples per step (default 128)
  --quantize              store the weights as int8 with one f32 scale per output channel
                          (weight_scale tensors; w = int8 * scale), biases as f32
  --out FILE              write the compressed weights (int8 safetensors with --quantize)
  --data DIR              folder with the four IDX files (default: MNIST)
  --limit N               fine-tune on the first N training samples only
  --seed N                seed for shuffling (default 1)
  --json                  print one JSON object per stage instead of text
  -h, --help              show this help`;

interface Stage {
  event: 'stage';
  stage: 'dense' | 'pruned' | 'fine-tuned' | 'int8';
  testAccuracy: number;
  testLoss: number;
  /** Fraction of the pruned tensors' weights that are zero. */
  sparsity: number;
  /** Size of the weights as stored in this form. */
  bytes: number;
}

export async function compressCommand(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    weights: { type: 'string' },
    model: { type: 'string' },
    prune: { type: 'string' },
    scope: { type: 'string' },
    finetune: { type: 'string' },
    lr: { type: 'string' },
    batch: { type: 'string' },
    quantize: { type: 'boolean' },
    out: { type: 'string' },
    data: { type: 'string' },
    limit: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) return void console.log(COMPRESS_USAGE);
  if (!v.weights) throw new UsageError('--weights FILE is required: the safetensors written by `webgpu-dl train --out FILE`');
  const model = modelOf(v.model, ['mlp', 'cnn']);
  const sparsity = real('prune', v.prune, 0, (n) => n >= 0 && n < 1, 'a fraction in [0, 1)');
  const scope = v.scope ?? 'global';
  if (scope !== 'global' && scope !== 'per-layer') throw new UsageError(`--scope ${scope}: expected global or per-layer`);
  const finetune = count('finetune', v.finetune, sparsity > 0 ? 1 : 0, 0);
  if (finetune > 0 && sparsity === 0) throw new UsageError('--finetune applies after pruning; give --prune S as well');
  const lr = real('lr', v.lr, 1e-4, (n) => n > 0, 'a positive number');
  const batch = count('batch', v.batch, 128);
  const seed = seedOf(v.seed);
  const trainLimit = v.limit === undefined ? undefined : count('limit', v.limit, 0);
  if (!sparsity && !v.quantize) throw new UsageError('nothing to do: give --prune S, --quantize, or both');
  if (v.out) {
    const problem = await outputPathProblem(v.out);
    if (problem) throw new UsageError(`--out ${v.out}: ${problem}`);
  }
  const source = `--weights ${v.weights}`;
  const weights = await readFileWithin(v.weights, { limit: MAX_CHECKPOINT_FILE_BYTES, limitName: 'MAX_CHECKPOINT_FILE_BYTES', error: CheckpointError, label: source, missingOk: true });
  if (!weights) throw new UsageError(`${source}: no such file`);
  // Checked in full (format, finite values) before the data is loaded or the engine started.
  decodeSafetensors(weights, { source, requireFinite: true });

  const all = await loadSplits(v.data);
  const splits = { ...all, train: limit(all.train, trainLimit) };
  const say = (line: string) => (v.json ? console.error(line) : console.log(line));
  const report = (s: Stage) => {
    if (v.json) console.log(JSON.stringify(s));
    else {
      const size = `${(s.bytes / 1024).toFixed(1)} KiB`;
      const sparse = s.sparsity > 0 ? `, ${(100 * s.sparsity).toFixed(1)}% of weights zero` : '';
      console.log(`${s.stage.padEnd(10)}  test accuracy ${(100 * s.testAccuracy).toFixed(2)}%  loss ${s.testLoss.toFixed(4)}  ${size}${sparse}`);
    }
  };
  let engine: Engine | undefined;
  let trainer: Trainer | undefined;
  let pruner: Pruner | undefined;
  try {
    engine = await createEngine({ log: (m) => console.error(m) });
    say(describeRun(engine, splits));
    trainer = classifierTrainer(engine, model, splits, { lr, seed });
    trainer.load(weights, source);
    const t = trainer;
    const stage = async (name: Stage['stage'], bytes: number) => {
      const e = await t.evaluate(splits.test);
      report({ event: 'stage', stage: name, testAccuracy: e.accuracy, testLoss: e.loss, sparsity: pruner ? (await pruner.sparsity()).overall : 0, bytes });
    };
    const denseBytes = (await trainer.checkpoint()).byteLength;
    await stage('dense', denseBytes);
    if (sparsity > 0) {
      pruner = await computePruningMasks(trainer.store, { sparsity, scope });
      await pruner.applyNow();
      await stage('pruned', denseBytes);
      if (finetune > 0) {
        const p = pruner;
        await trainer.fit(splits.train, { epochs: finetune, batchSize: batch, schedule: cosine(), afterStep: (e) => p.encode(e) });
        await stage('fine-tuned', denseBytes);
      }
    }
    let out = await trainer.checkpoint({ model, compressed: sparsity > 0 ? `pruned ${sparsity} ${scope}` : 'none' });
    if (v.quantize) {
      const q = quantizeStateDict(decodeSafetensors(out).tensors.values());
      out = encodeQuantizedSafetensors(q, { model, quantization: 'int8 per output channel, symmetric' });
      // Evaluated with the int8 values turned back into f32 weights: the model's accuracy with
      // exactly the stored weights (the arithmetic itself stays f32).
      trainer.load(encodeSafetensors(dequantizeStateDict(q.tensors)));
      await stage('int8', out.byteLength);
    }
    if (v.out) {
      await writeFileAtomically(v.out, out);
      say(`webgpu-dl: compressed weights saved to ${v.out} (${v.quantize ? 'int8 weights with f32 scales' : 'f32'}, safetensors)`);
    }
  } finally {
    pruner?.dispose();
    trainer?.dispose();
    await engine?.close();
  }
}

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageDataset } from '../../src/data/dataset.js';
import { BusyError, WebGPUDLError } from '../../src/gpu/errors.js';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';
import { rng } from '../helpers/random.js';

/*
 * Random short sequences of API calls on a tiny trainer — fit, a diverging fit, evaluate, predict,
 * checkpoint, load, dispose, two fits at once — each end in success or a WebGPUDLError, never a raw TypeError or an
 * unhandled rejection, and once the trainer is disposed every buffer it made is gone. The run count
 * is small: every case trains on the software GPU.
 */

const engine = useEngine();

const next = rng(11);
const data: ImageDataset = {
  images: Uint8Array.from({ length: 24 * 16 }, () => Math.floor(next() * 256)),
  labels: Uint8Array.from({ length: 24 }, () => Math.floor(next() * 3)),
  count: 24,
  height: 4,
  width: 4,
  classes: 3,
};

type Call =
  | { kind: 'fit'; epochs: number; batch: number; dispose: boolean }
  | { kind: 'diverge'; skip: boolean }
  | { kind: 'concurrentFit' }
  | { kind: 'evaluate' }
  | { kind: 'predict'; count: number; bytes: number }
  | { kind: 'checkpoint' }
  | { kind: 'load'; garbage: boolean }
  | { kind: 'dispose' };

const call: fc.Arbitrary<Call> = fc.oneof(
  fc.record({ kind: fc.constant('fit' as const), epochs: fc.integer({ min: -1, max: 2 }), batch: fc.constantFrom(0, 4, 8, 25), dispose: fc.boolean() }),
  fc.constant({ kind: 'concurrentFit' as const }),
  fc.record({ kind: fc.constant('diverge' as const), skip: fc.boolean() }),
  fc.constant({ kind: 'evaluate' as const }),
  fc.record({ kind: fc.constant('predict' as const), count: fc.integer({ min: 0, max: 3 }), bytes: fc.constantFrom(0, 16, 32, 17) }),
  fc.constant({ kind: 'checkpoint' as const }),
  fc.record({ kind: fc.constant('load' as const), garbage: fc.boolean() }),
  fc.constant({ kind: 'dispose' as const }),
);

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => void process.on('unhandledRejection', onUnhandled));
afterAll(() => void process.off('unhandledRejection', onUnhandled));

/** The call's outcome: 'ok', or the name of the typed error it raised; anything else is thrown. */
async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'ok';
  } catch (e) {
    if (e instanceof WebGPUDLError) return e.name;
    throw e;
  }
}

async function play(calls: Call[]): Promise<void> {
  const baseline = engine().stats.liveBuffers;
  const trainer = new Trainer(engine(), { model: new Sequential(new Linear(16, 6), ReLU(), new Linear(6, 3)), inputShape: [16], classes: 3, optimizer: new Adam({ lr: 0.01 }), seed: 1 });
  let saved: Uint8Array | undefined;
  for (const c of calls) {
    switch (c.kind) {
      case 'fit':
        await outcome(() => trainer.fit(data, { epochs: c.epochs, batchSize: c.batch, progressEvery: 1, onProgress: c.dispose ? () => trainer.dispose() : undefined }));
        break;
      case 'diverge': {
        // A rate of 1e30 overflows within a few steps: a DivergenceError, or skipped steps.
        const result = await outcome(() => trainer.fit(data, { epochs: 2, batchSize: 4, schedule: () => 1e30, onNonFinite: c.skip ? 'skip' : 'error' }));
        expect(['ok', 'DivergenceError', 'DisposedError']).toContain(result);
        if (result !== 'DisposedError') for (const p of trainer.store.list) expect((await trainer.store.read(p.name)).every(Number.isFinite)).toBe(true);
        break;
      }
      case 'concurrentFit': {
        const runs = [trainer.fit(data, { epochs: 1, batchSize: 8 }), trainer.fit(data, { epochs: 1, batchSize: 8 })];
        const [first, second] = await Promise.allSettled(runs);
        // The second is refused whatever the first does (it may meet a disposed trainer).
        expect(second.status === 'rejected' && second.reason instanceof WebGPUDLError).toBe(true);
        if (first.status === 'fulfilled') expect((second as PromiseRejectedResult).reason).toBeInstanceOf(BusyError);
        else expect(first.reason).toBeInstanceOf(WebGPUDLError);
        break;
      }
      case 'evaluate':
        await outcome(() => trainer.evaluate(data));
        break;
      case 'predict':
        await outcome(() => trainer.predict(data.images.subarray(0, c.bytes), c.count));
        break;
      case 'checkpoint':
        await outcome(async () => (saved = await trainer.checkpoint()));
        break;
      case 'load':
        await outcome(async () => trainer.load(c.garbage || !saved ? Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 1, 2) : saved));
        break;
      case 'dispose':
        trainer.dispose();
        break;
    }
  }
  trainer.dispose();
  expect(engine().stats.liveBuffers).toBe(baseline);
}

describe('Trainer API call sequences', () => {
  it('end in success or a typed error, leave no unhandled rejection, and free everything on dispose', async () => {
    await fc.assert(fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 6 }), play), { numRuns: 12, seed: 20261130 });
    // Rejections surface a tick late; give them the chance before counting.
    await new Promise((r) => setTimeout(r, 50));
    expect(unhandled).toEqual([]);
  });

  it('includes the sequences that used to go wrong: dispose during fit twice, two fits at once', async () => {
    await play([{ kind: 'fit', epochs: 2, batch: 4, dispose: true }, { kind: 'fit', epochs: 1, batch: 4, dispose: false }]);
    await play([{ kind: 'concurrentFit' }, { kind: 'checkpoint' }, { kind: 'fit', epochs: 2, batch: 4, dispose: true }, { kind: 'load', garbage: false }]);
    await new Promise((r) => setTimeout(r, 50));
    expect(unhandled).toEqual([]);
  });
});

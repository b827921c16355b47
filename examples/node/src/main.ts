// Train a small classifier on arrays made here, save its weights, load them into a fresh model for
// inference, and predict. Run with `npm start` after `npm install && npm run build`.
import { readFile, writeFile } from 'node:fs/promises';
import { Adam, Linear, ReLU, Sequential, Trainer, createEngine, loadModel, tensorDataset } from 'webgpu-dl';

/** Points in the square [-1, 1]², labelled 1 where x·y > 0 (XOR): no straight line separates them. */
function xorPoints(count: number, seed: number): { x: Float32Array; y: Uint32Array } {
  let state = seed;
  const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const x = new Float32Array(count * 2);
  const y = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    x[2 * i] = random();
    x[2 * i + 1] = random();
    y[i] = x[2 * i] * x[2 * i + 1] > 0 ? 1 : 0;
  }
  return { x, y };
}

// Training and inference each build the model afresh; the checkpoint carries the weights by name.
const makeModel = () => new Sequential(new Linear(2, 32), ReLU(), new Linear(32, 32), ReLU(), new Linear(32, 2));

const engine = await createEngine(); // Dawn through the `webgpu` package
const train = xorPoints(1024, 1);
const test = xorPoints(256, 2);

const trainer = new Trainer(engine, {
  model: makeModel(),
  inputShape: [2],
  classes: 2,
  optimizer: new Adam({ lr: 0.01 }),
  seed: 1,
});
await trainer.fit(tensorDataset(train.x, train.y, { featureShape: [2] }), {
  epochs: 15,
  batchSize: 64,
  onEpoch: (r) => console.log(`epoch ${r.epoch}  loss ${r.loss.toFixed(4)}  train accuracy ${(100 * r.trainAccuracy).toFixed(1)}%`),
});
await writeFile('xor.safetensors', await trainer.checkpoint()); // safetensors, PyTorch's parameter names
trainer.dispose();

// Inference only: no optimizer state, eval mode.
const predictor = loadModel(engine, await readFile('xor.safetensors'), makeModel(), { inputShape: [2] });
const predicted = await predictor.predictClasses(test.x);
const correct = predicted.filter((c, i) => c === test.y[i]).length;
console.log(`test accuracy ${((100 * correct) / test.y.length).toFixed(1)}%`);
predictor.dispose();
await engine.close();

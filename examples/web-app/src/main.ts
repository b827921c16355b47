// Train a classifier on arrays made in the page, then predict: held-out points for the accuracy,
// and a grid over the square for a picture of what the network learned.
import { Adam, Linear, ReLU, Sequential, Trainer, createEngine, tensorDataset } from 'webgpu-dl';

const log = document.querySelector('#log') as HTMLPreElement;
const result = document.querySelector('#result') as HTMLParagraphElement;
const canvas = document.querySelector('#regions') as HTMLCanvasElement;

/** Which ring of the square [-1, 1]² a point lies in: inside radius 0.5, up to 0.85, or beyond. */
const ring = (x: number, y: number) => {
  const r = Math.hypot(x, y);
  return r < 0.5 ? 0 : r < 0.85 ? 1 : 2;
};

function ringPoints(count: number): { x: Float32Array; y: Uint32Array } {
  const x = new Float32Array(count * 2);
  const y = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    x[2 * i] = Math.random() * 2 - 1;
    x[2 * i + 1] = Math.random() * 2 - 1;
    y[i] = ring(x[2 * i], x[2 * i + 1]);
  }
  return { x, y };
}

/** Every pixel's centre of a size × size grid over the square, as [x, y] rows. */
function grid(size: number): Float32Array {
  const points = new Float32Array(size * size * 2);
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      points[2 * (row * size + col)] = ((col + 0.5) / size) * 2 - 1;
      points[2 * (row * size + col) + 1] = 1 - ((row + 0.5) / size) * 2;
    }
  }
  return points;
}

function draw(classes: Uint32Array, size: number): void {
  const colours = [
    [230, 97, 1],
    [253, 184, 99],
    [94, 60, 153],
  ];
  const image = new ImageData(size, size);
  classes.forEach((c, i) => image.data.set([...colours[c], 255], 4 * i));
  canvas.getContext('2d')?.putImageData(image, 0, 0);
}

async function main(): Promise<void> {
  const engine = await createEngine(); // the page's navigator.gpu; a WebGPUUnavailableError says how to enable it
  log.textContent = `adapter: ${engine.info.vendor} ${engine.info.architecture}\n`;
  const train = ringPoints(2048);
  const test = ringPoints(512);

  const trainer = new Trainer(engine, {
    model: new Sequential(new Linear(2, 32), ReLU(), new Linear(32, 32), ReLU(), new Linear(32, 3)),
    inputShape: [2],
    classes: 3,
    optimizer: new Adam({ lr: 0.01 }),
  });
  await trainer.fit(tensorDataset(train.x, train.y, { featureShape: [2] }), {
    epochs: 12,
    batchSize: 64,
    onEpoch: (r) => (log.textContent += `epoch ${r.epoch}  loss ${r.loss.toFixed(4)}  train accuracy ${(100 * r.trainAccuracy).toFixed(1)}%\n`),
  });

  const predictor = trainer.predictor(); // forward only, sharing the trained weights
  const predicted = await predictor.predictClasses(test.x);
  const correct = predicted.filter((c, i) => c === test.y[i]).length;
  result.textContent = `test accuracy ${((100 * correct) / test.y.length).toFixed(1)}% on ${test.y.length} new points`;
  draw(await predictor.predictClasses(grid(canvas.width)), canvas.width);

  predictor.dispose();
  trainer.dispose();
  await engine.close();
}

main().then(
  () => (document.body.dataset.state = 'done'),
  (e: unknown) => {
    result.textContent = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    document.body.dataset.state = 'error';
  },
);

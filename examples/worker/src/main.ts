// The page: it starts the worker, sends it the data, and shows the epochs the worker posts. It
// never touches the GPU itself.
import type { EpochResult } from 'webgpu-dl';
import { startTraining, workerReady } from 'webgpu-dl/worker';
import { ringPoints, type RingsConfig } from './rings';

const log = document.querySelector('#log') as HTMLPreElement;
const result = document.querySelector('#result') as HTMLParagraphElement;
const pause = document.querySelector('#pause') as HTMLButtonElement;
const rate = document.querySelector('#lr') as HTMLInputElement;

async function main(): Promise<void> {
  const worker = new Worker(new URL('./training.worker.ts', import.meta.url), { type: 'module' });
  const info = await workerReady(worker); // rejects, naming the reason, if the worker has no WebGPU
  log.textContent = `worker adapter: ${info.vendor} ${info.architecture}\n`;

  const train = ringPoints(2048);
  const test = ringPoints(512);
  const config: RingsConfig = { x: train.x, y: train.y, epochs: 12, lr: Number(rate.value) };
  const run = startTraining<unknown, EpochResult, EpochResult[]>(worker, { job: 'rings', config });
  run.onEpoch = (r) => (log.textContent += `epoch ${r.epoch}  loss ${r.loss.toFixed(4)}  train accuracy ${(100 * r.trainAccuracy).toFixed(1)}%\n`);

  let paused = false;
  let finished = false;
  pause.disabled = rate.disabled = false;
  pause.onclick = async () => {
    pause.disabled = true;
    paused = !paused;
    await (paused ? run.pause() : run.resume()); // resolves once the worker has stopped between steps, or resumed
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.disabled = finished;
  };
  rate.onchange = () => void run.setLearningRate(Number(rate.value));

  await run.done;
  finished = pause.disabled = rate.disabled = true;
  const predicted = await run.request<Uint32Array>('predictClasses', test.x);
  const correct = predicted.filter((c, i) => c === test.y[i]).length;
  result.textContent = `test accuracy ${((100 * correct) / test.y.length).toFixed(1)}% on ${test.y.length} new points`;
  await run.stop();
  worker.terminate();
}

main().then(
  () => (document.body.dataset.state = 'done'),
  (e: unknown) => {
    result.textContent = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    document.body.dataset.state = 'error';
  },
);

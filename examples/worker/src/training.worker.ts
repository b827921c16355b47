// The worker: it opens its own engine on the worker's navigator.gpu, and trains when the page
// starts the 'rings' job. Pause, learning-rate changes, checkpoints and stop arrive as messages.
import { Adam, Linear, ReLU, Sequential, Trainer, tensorDataset, type EpochResult } from 'webgpu-dl';
import { serveTraining, type TrainingJob } from 'webgpu-dl/worker';
import type { RingsConfig } from './rings';

serveTraining(self, {
  jobs: {
    rings: (engine, config): TrainingJob => {
      const { x, y, epochs } = config as RingsConfig;
      let lr = (config as RingsConfig).lr;
      const trainer = new Trainer(engine, {
        model: new Sequential(new Linear(2, 32), ReLU(), new Linear(32, 32), ReLU(), new Linear(32, 3)),
        inputShape: [2],
        classes: 3,
        optimizer: new Adam({ lr }),
      });
      const predictor = trainer.predictor();
      return {
        run: (ctx) =>
          trainer.fit(tensorDataset(x, y, { featureShape: [2] }), {
            epochs,
            batchSize: 64,
            beforeStep: () => ctx.gate(), // waits here while the page has paused the run
            schedule: () => lr, // read every step, so a new rate applies from the next one
            onEpoch: (r: EpochResult) => ctx.epoch(r),
          }),
        setLearningRate: (rate) => (lr = rate),
        checkpoint: (metadata) => trainer.checkpoint(metadata),
        requests: { predictClasses: (points) => predictor.predictClasses(points as Float32Array) },
        stop: () => trainer.dispose(), // fit ends before its next step
        dispose: () => {
          predictor.dispose();
          trainer.dispose();
        },
      };
    },
  },
});

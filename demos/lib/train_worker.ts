import { Adam, mlpDiscriminator, mlpGenerator } from '../../src/index.js';
import { ganJob, serveTraining, type MessageEndpoint } from '../../src/worker/index.js';
import { classifierJob } from './classifier_job.js';
import { dcganDiscriminator, dcganGenerator } from './dcgan.js';
import { imagesJob } from './images_job.js';
import { classifierCnn, classifierMlp } from './models.js';
import { textJob } from './text_job.js';

/** What the GAN page sends as `GanJobConfig.model`. */
export interface GanModelConfig {
  kind: 'mlp' | 'dcgan';
  g: number[];
  d: number[];
  latent: number;
  lr: number;
  seed: number;
}

/**
 * The demos' training worker: it opens the GPU on its own thread and trains the job a page starts
 * (the page only sends commands and draws what this posts).
 */
serveTraining(self as unknown as MessageEndpoint, {
  jobs: {
    mlp: classifierJob(classifierMlp),
    cnn: classifierJob(classifierCnn, { featureMaps: true }),
    text: textJob,
    images: imagesJob,
    gan: ganJob((config) => {
      const m = config.model as GanModelConfig;
      const conv = m.kind === 'dcgan';
      if (conv && (m.g.length !== 2 || m.d.length !== 2)) throw new Error('DCGAN takes two channel counts for each network, e.g. 32, 16 and 16, 32');
      return {
        generator: conv ? dcganGenerator(m.latent, m.g) : mlpGenerator(m.latent, m.g),
        discriminator: conv ? dcganDiscriminator(m.d) : mlpDiscriminator(784, m.d),
        latent: m.latent,
        pixels: 784,
        optimizerG: new Adam({ lr: m.lr, beta1: 0.5 }),
        optimizerD: new Adam({ lr: m.lr, beta1: 0.5 }),
        seed: m.seed,
      };
    }),
  },
});

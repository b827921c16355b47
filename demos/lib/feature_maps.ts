import { compileStep, Sequential, type CompiledStep, type ImageDataset, type Value } from '../../src/index.js';
import type { LiveTrainer } from './live_trainer.js';
import { channelsAt } from './models.js';

/** Every convolution, ReLU and pooling layer's output for one test digit (posted to the page). */
export interface FeatureMaps {
  index: number;
  label: number;
  /** The digit's pixels as stored (0–255). */
  image: Uint8Array;
  layers: { layer: number; name: string; channels: number; side: number; values: Float32Array }[];
}

/**
 * Runs one digit through an inference step that exposes the output of every layer whose output
 * is a 4-D feature map (not the flattened tail). Runs in the training worker; the step is rebuilt
 * for a new trainer, or for a new device after a loss (LiveTrainer recovers in the same engine).
 */
export class FeatureMapProbe {
  private step: CompiledStep<'x'> | undefined;
  private stepFor: { live: LiveTrainer; device: GPUDevice } | undefined;
  private readonly shown = new Set<number>();

  async read(live: LiveTrainer, test: ImageDataset, wanted: number): Promise<FeatureMaps> {
    const model = live.options.model;
    if (!(model instanceof Sequential)) throw new Error('feature maps: the model is not a Sequential, whose layers they show');
    if (this.stepFor?.live !== live || this.stepFor.device !== live.engine.device) {
      this.step?.dispose();
      this.shown.clear();
      this.step = await compileStep<'x'>(live.engine, {
        inputs: { x: { shape: [1, 1, 28, 28] } },
        stores: [live.trainer.store],
        build: (g, { x }) => {
          const outputs: Record<string, Value> = {};
          let h = x;
          model.layers.forEach((layer, i) => {
            h = layer.apply(g, h, { store: live.trainer.store, training: false });
            if (h.shape.length === 4) {
              outputs[`l${i}`] = h;
              this.shown.add(i);
            }
          });
          return { outputs };
        },
      });
      this.stepFor = { live, device: live.engine.device };
    }
    const step = this.step!;
    const index = Math.max(0, Math.min(test.count - 1, Math.floor(wanted) || 0));
    const image = test.images.slice(index * 784, (index + 1) * 784);
    step.run({ x: Float32Array.from(image, (v) => v / 255) });
    const layers: FeatureMaps['layers'] = [];
    for (let i = 0; i < model.layers.length; i++) {
      if (!this.shown.has(i)) continue;
      const values = await step.read(`l${i}`);
      const channels = channelsAt(model, i);
      layers.push({ layer: i, name: model.layers[i].describe(), channels, side: Math.round(Math.sqrt(values.length / channels)), values });
    }
    return { index, label: test.labels[index], image, layers };
  }

  dispose(): void {
    this.step?.dispose();
    this.step = undefined;
    this.stepFor = undefined;
  }
}

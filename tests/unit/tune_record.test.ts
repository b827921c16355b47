import { describe, expect, it } from 'vitest';
import { KernelError } from '../../src/gpu/errors.js';
import { KERNEL_CONFIGS_KEY, kernelConfigsJson, readKernelConfigs } from '../../src/gpu/tune_record.js';
import { Flatten, Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import { CheckpointError } from '../../src/train/safetensors_validate.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';

const engine = useEngine();

describe('kernel configurations recorded with a checkpoint', () => {
  it('are in the weights and the optimizer files of a trained model, as the engine chose them', async () => {
    const trainer = new Trainer(engine(), {
      model: new Sequential(new Flatten(), new Linear(16, 12), ReLU(), new Linear(12, 3)),
      inputShape: [1, 4, 4],
      classes: 3,
      optimizer: new Adam({ lr: 1e-2 }),
      seed: 1,
    });
    const count = 24;
    const data = { images: Uint8Array.from({ length: count * 16 }, (_, i) => (i * 37) & 0xff), labels: Uint8Array.from({ length: count }, (_, i) => i % 3), count, height: 4, width: 4, classes: 3 };
    await trainer.fit(data, { epochs: 1, batchSize: 8 });
    const chosen = engine().tuner.choices;
    expect(Object.keys(chosen).some((c) => c.startsWith('matmul.'))).toBe(true);
    for (const bytes of [await trainer.checkpoint(), await trainer.optimizerCheckpoint()]) {
      const { metadata } = decodeSafetensors(bytes);
      expect(readKernelConfigs(metadata)).toEqual(chosen);
      expect(metadata[KERNEL_CONFIGS_KEY]).toBe(kernelConfigsJson(chosen));
    }
    // The writer sets the key; a caller's own value would be overwritten, so it is refused.
    await expect(trainer.checkpoint({ [KERNEL_CONFIGS_KEY]: '{}' })).rejects.toThrow(CheckpointError);
    await expect(trainer.optimizerCheckpoint({ [KERNEL_CONFIGS_KEY]: '{}' })).rejects.toThrow(/'kernel_configs'.*set by the writer/);
    trainer.dispose();
  });

  it('are written in a stable order and read back checked', () => {
    expect(kernelConfigsJson({ 'matmul.b': 'y', 'conv2d|a': 'x' })).toBe('{"conv2d|a":"x","matmul.b":"y"}');
    expect(readKernelConfigs({ format: 'pt' })).toBeUndefined();
    expect(readKernelConfigs({ [KERNEL_CONFIGS_KEY]: '{"matmul.a":"reg8x8-wg8x8"}' })).toEqual({ 'matmul.a': 'reg8x8-wg8x8' });
    expect(() => readKernelConfigs({ [KERNEL_CONFIGS_KEY]: 'not json' }, 'w.safetensors')).toThrow(/w\.safetensors: metadata 'kernel_configs' is not JSON/);
    expect(() => readKernelConfigs({ [KERNEL_CONFIGS_KEY]: '["a"]' })).toThrow(KernelError);
    expect(() => readKernelConfigs({ [KERNEL_CONFIGS_KEY]: '{"a":1}' })).toThrow(/JSON object from shape class to configuration id/);
  });
});

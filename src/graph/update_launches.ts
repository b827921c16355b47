import type { BufferRange } from '../gpu/buffers.js';
import type { Engine } from '../gpu/engine.js';
import { KernelError } from '../gpu/errors.js';
import { makeLaunch, type Launch } from '../gpu/launch.js';
import { clipGradNormProgram, finiteCheckKernel, finiteCheckUniforms, UniformImage, type NonFiniteMode } from '../kernels/optimizer.js';
import { STEP_HEALTH_WORDS } from '../../shaders/lib/step_health.js';
import type { StepGraph } from './compile.js';
import type { ParameterStore } from './params.js';
import type { UpdateRule } from './update.js';

// The launches a training step records after its graph: the finite check of the loss and
// gradients, optional clipping, and the optimizer update, over the store's flat buffers.

export interface UpdateLaunches {
  launches: Launch[];
  uniform: GPUBuffer;
  /** The update kernel's uniforms, made once: the rule rewrites what changes in place each step. */
  image: UniformImage;
  /** The finite check's uniforms (its run number changes every run) and the record it marks. */
  check: { uniform: GPUBuffer; words: Uint32Array<ArrayBuffer>; mode: NonFiniteMode };
  health: GPUBuffer;
  rule: UpdateRule;
  n: number;
  /** Keeps the update count t that the rule's uniforms need. */
  store: ParameterStore;
}

export async function buildUpdate(engine: Engine, m: NonNullable<StepGraph['minimize']>, loss: BufferRange, owned: GPUBuffer[]): Promise<UpdateLaunches> {
  const store = m.store;
  const n = store.length;
  const mode = m.onNonFinite ?? 'error';
  const health = engine.createStorage(STEP_HEALTH_WORDS * 4, 'step health');
  owned.push(health);
  // Before clipping: a NaN norm would spread to every element and hide the first bad tensor.
  const check = await makeLaunch(engine, finiteCheckKernel(n, mode), [store.gradBuffer, loss, health], owned);
  const launches: Launch[] = [check];
  if (m.clipNorm !== undefined) {
    const clip = clipGradNormProgram(n, m.clipNorm);
    const norm = engine.createStorage(4, 'grad norm');
    owned.push(norm);
    const scratch = clip.scratch.map((b, i) => {
      const buffer = engine.createStorage(b, `clip scratch ${i}`);
      owned.push(buffer);
      return buffer;
    });
    for (const { spec, args } of clip.launches) {
      const buffers = args.map((a) => ('io' in a ? [store.gradBuffer, norm][a.io] : scratch[a.scratch]));
      launches.push(await makeLaunch(engine, spec, buffers, owned));
    }
  }
  const spec = m.optimizer.kernel(n, 1, true);
  if (!spec.uniforms) throw new KernelError(spec.name, 'an optimizer kernel must take uniforms (the step count and learning rate change every step)');
  const stateBuffers = m.optimizer.stateKeys.map((k) => store.state(k));
  const launch = await makeLaunch(engine, spec, [store.paramBuffer, store.gradBuffer, ...stateBuffers, health], owned);
  launches.push(launch);
  // Both uniforms are rewritten every step (writeUpdateUniforms).
  return { launches, uniform: launch.uniform!, image: new UniformImage(spec.uniforms.slice(0)), check: { uniform: check.uniform!, words: new Uint32Array(4), mode }, health, rule: m.optimizer, n, store };
}

/**
 * Writes the uniforms of update number `t` (the store's count) and run `step` of this compiled step
 * into their preallocated images and queues them; allocates nothing.
 */
export function writeUpdateUniforms(queue: GPUQueue, update: UpdateLaunches, t: number, step: number): void {
  update.rule.writeUniforms(update.image, t);
  queue.writeBuffer(update.uniform, 0, update.image.bytes);
  const { check, n } = update;
  queue.writeBuffer(check.uniform, 0, finiteCheckUniforms(n, step, check.mode, check.words));
}

import { dropoutShader } from '../../shaders/dropout.js';
import { seedWords } from '../../shaders/lib/philox.js';
import { ShapeError } from '../gpu/errors.js';
import { checkSeed, checkStream } from './random.js';
import { ceilDiv, dispatch1D } from './geometry.js';
import { UniformWriter, type KernelSpec } from './kernel.js';

const WG = 64;

export interface DropoutConfig {
  /** Probability of zeroing an element, in [0, 1]. p = 1 gives zeros, as PyTorch does. */
  p: number;
  seed: number;
  /** The training step: the Philox stream, so each step draws a fresh mask from one seed. */
  step: number;
}

function dropoutSpec(name: string, n: number, c: DropoutConfig): KernelSpec {
  if (!(c.p >= 0 && c.p <= 1)) {
    throw new ShapeError(`${name}: drop probability p = ${c.p} must lie in [0, 1]`);
  }
  checkSeed(name, c.seed);
  checkStream(name, c.step);
  const [lo, hi] = seedWords(c.seed);
  // Keep probability is 1 − round(p·2^24)/2^24, within 3e-8 of 1 − p; p = 0 keeps all exactly.
  const threshold = Math.round(c.p * 16777216);
  const scale = c.p === 1 ? 0 : 1 / (1 - c.p);
  return {
    name,
    code: dropoutShader(),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['read', 'write', 'uniform'],
    workgroups: dispatch1D(ceilDiv(n, 4), WG),
    uniforms: new UniformWriter().u32(n, lo, hi, c.step, threshold).f32(scale).finish(),
  };
}

/** Word of the uniforms (n, seed_lo, seed_hi, stream, threshold, scale) that holds the step. */
const STREAM_WORD = 3;

/**
 * Rewrites, in place, the step of uniforms made by `dropoutForward` or `dropoutBackward`: the one
 * field that changes from run to run, so a compiled step keeps one image and allocates nothing.
 */
export function setDropoutStep(uniforms: Uint32Array, step: number): void {
  checkStream('dropout', step);
  uniforms[STREAM_WORD] = step;
}

/** y = x ⊙ mask / (1 − p) over n elements. Bindings: x, y. */
export function dropoutForward(n: number, c: DropoutConfig): KernelSpec {
  return dropoutSpec('dropout', n, c);
}

/** dx = dy ⊙ mask / (1 − p), the mask regenerated from (seed, step). Bindings: dy, dx. */
export function dropoutBackward(n: number, c: DropoutConfig): KernelSpec {
  return dropoutSpec('dropout_backward', n, c);
}

import { softmaxCrossEntropyBatchShader, softmaxCrossEntropyShader } from '../../shaders/softmax_cross_entropy.js';
import { ShapeError } from '../gpu/errors.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelProgram, type KernelSpec } from './kernel.js';
import { appendSumAll, ProgramBuilder } from './reduce.js';
import { defaultRowVariant, type SoftmaxVariant } from './softmax.js';

const ROW_WG = 64;
/** Up to this many rows (16 per lane) one workgroup does the whole batch, sums included, in one launch. */
const SINGLE_WORKGROUP_ROWS = 1024;

/** Checks logits [B, C] against labels [B]; returns [B, C]. */
export function checkCrossEntropyShapes(logits: readonly number[], labels: readonly number[]): [number, number] {
  if (logits.length !== 2) {
    throw new ShapeError(`softmaxCrossEntropy: logits [${logits.join(', ')}] must be [batch, classes]; flatten the leading dimensions`);
  }
  if (labels.length !== 1 || labels[0] !== logits[0]) {
    throw new ShapeError(
      `softmaxCrossEntropy: logits [${logits.join(', ')}] and labels [${labels.join(', ')}]: labels must be [${logits[0]}], one class index per row`,
    );
  }
  return [logits[0], logits[1]];
}

/**
 * The fused kernel alone. Bindings: logits [B, C], labels [B] (u32), rowLoss [B], dLogits [B, C],
 * rowCorrect [B] (1 or 0). dLogits = gradScale * (softmax - onehot). `variant` defaults to
 * defaultRowVariant(classes, false).
 */
export function softmaxCrossEntropySpec(batch: number, classes: number, gradScale: number, variant?: SoftmaxVariant): KernelSpec {
  const cooperative = (variant ?? defaultRowVariant(classes, false)) === 'workgroup';
  let wg = 32;
  while (cooperative && wg < 256 && wg * 4 < classes) wg *= 2;
  return {
    name: 'softmax_cross_entropy',
    code: softmaxCrossEntropyShader(cooperative),
    entryPoint: 'main',
    constants: { WG: cooperative ? wg : ROW_WG },
    bindings: ['read', 'read', 'write', 'write', 'write', 'uniform'],
    workgroups: cooperative ? dispatch1D(batch, 1) : dispatch1D(batch, ROW_WG),
    uniforms: new UniformWriter().u32(batch, classes).f32(gradScale).finish(),
  };
}

/**
 * Mean softmax cross-entropy with its gradient, in one program: the fused kernel, then the
 * deterministic sums of the per-row losses (times 1/B) and, when `countCorrect`, of the per-row hits
 * — or, for small batches with one invocation per row, all of it in a single one-workgroup launch.
 * io: logits [B, C], labels [B] u32, loss [1], dLogits [B, C] (= (softmax - onehot) / B), then
 * correct [1] (the number of rows whose argmax is the label, as f32) when `countCorrect`.
 */
export function softmaxCrossEntropyProgram(batch: number, classes: number, countCorrect: boolean, variant?: SoftmaxVariant): KernelProgram {
  if (batch <= SINGLE_WORKGROUP_ROWS && (variant ?? defaultRowVariant(classes, false)) === 'thread') {
    const spec: KernelSpec = {
      name: 'softmax_cross_entropy_batch',
      code: softmaxCrossEntropyBatchShader(),
      entryPoint: 'main',
      constants: { WG: ROW_WG },
      bindings: ['read', 'read', 'write', 'write', 'write', 'uniform'],
      workgroups: [1, 1, 1],
      uniforms: new UniformWriter().u32(batch, classes).f32(1 / batch).finish(),
    };
    // The kernel always counts hits; without an io slot for them they go to a scratch buffer.
    const correct = countCorrect ? { io: 4 } : { scratch: 0 };
    return { name: spec.name, scratch: countCorrect ? [] : [4], launches: [{ spec, args: [{ io: 0 }, { io: 1 }, { io: 2 }, { io: 3 }, correct] }] };
  }
  const pb = new ProgramBuilder('softmax_cross_entropy');
  const rowLoss = pb.temp(batch);
  const rowCorrect = pb.temp(batch);
  pb.add(softmaxCrossEntropySpec(batch, classes, 1 / batch, variant), [{ io: 0 }, { io: 1 }, rowLoss, { io: 3 }, rowCorrect]);
  appendSumAll(pb, [rowLoss], { io: 2 }, batch, 1 / batch);
  if (countCorrect) appendSumAll(pb, [rowCorrect], { io: 4 }, batch);
  return pb.build();
}

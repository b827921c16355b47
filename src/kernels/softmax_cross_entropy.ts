import { crossEntropyLabelCountShader, softmaxCrossEntropyBatchShader, softmaxCrossEntropyShader } from '../../shaders/softmax_cross_entropy.js';
import { ShapeError } from '../gpu/errors.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type ArgRef, type KernelProgram, type KernelSpec } from './kernel.js';
import { appendSumAll, ProgramBuilder } from './reduce.js';
import { defaultRowVariant, type SoftmaxVariant } from './softmax.js';

const ROW_WG = 64;
const COUNT_WG = 256;
/** Up to this many rows (16 per lane) one workgroup does the whole batch, sums included, in one launch. */
const SINGLE_WORKGROUP_ROWS = 1024;
const MAX_U32 = 0xffffffff;

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
 * Checks an ignore index: labels are u32, so it must be an integer in [0, 2³²−1] (PyTorch's default
 * −100 cannot occur among them). `undefined` means no label is ignored.
 */
export function checkIgnoreIndex(where: string, ignoreIndex: number | undefined): void {
  if (ignoreIndex === undefined) return;
  if (typeof ignoreIndex !== 'number' || !Number.isInteger(ignoreIndex) || ignoreIndex < 0 || ignoreIndex > MAX_U32) {
    throw new ShapeError(
      `${where}: ignoreIndex ${String(ignoreIndex)} must be an integer in [0, ${MAX_U32}] (labels are u32 class indices); ` +
        'pass the label value your data uses for rows to leave out, or omit ignoreIndex',
    );
  }
}

function params(batch: number, classes: number, ignoreIndex: number | undefined): ArrayBuffer {
  return new UniformWriter().u32(batch, classes, ignoreIndex ?? 0, ignoreIndex === undefined ? 0 : 1).finish();
}

/** Counts kept and invalid rows (see the shader). Bindings: labels [B] (u32), kept [1], invalid [1]. */
export function crossEntropyLabelCountSpec(batch: number, classes: number, ignoreIndex?: number): KernelSpec {
  return {
    name: 'softmax_cross_entropy_label_count',
    code: crossEntropyLabelCountShader(),
    entryPoint: 'main',
    constants: { WG: COUNT_WG },
    bindings: ['read', 'write', 'write', 'uniform'],
    workgroups: [1, 1, 1],
    uniforms: params(batch, classes, ignoreIndex),
  };
}

/**
 * The fused per-row kernel. Bindings: logits [B, C], labels [B] (u32), rowLoss [B] (each row's loss
 * over the kept count K), dLogits [B, C] (= (softmax − onehot) / K on kept rows, 0 elsewhere),
 * rowCorrect [B] (1 or 0), kept [1] (K, from crossEntropyLabelCountSpec). `variant` defaults to
 * defaultRowVariant(classes, false).
 */
export function softmaxCrossEntropySpec(batch: number, classes: number, ignoreIndex?: number, variant?: SoftmaxVariant): KernelSpec {
  const cooperative = (variant ?? defaultRowVariant(classes, false)) === 'workgroup';
  let wg = 32;
  while (cooperative && wg < 256 && wg * 4 < classes) wg *= 2;
  return {
    name: 'softmax_cross_entropy',
    code: softmaxCrossEntropyShader(cooperative),
    entryPoint: 'main',
    constants: { WG: cooperative ? wg : ROW_WG },
    bindings: ['read', 'read', 'write', 'write', 'write', 'read', 'uniform'],
    workgroups: cooperative ? dispatch1D(batch, 1) : dispatch1D(batch, ROW_WG),
    uniforms: params(batch, classes, ignoreIndex),
  };
}

export interface CrossEntropyProgramOptions {
  /** Add an io slot for the number of rows whose first argmax is the label. */
  countCorrect?: boolean;
  /** Add an io slot (after `correct`) for the number of rows with an invalid label. */
  countInvalid?: boolean;
  /** Rows with this label are left out of the loss, the gradient and the mean. */
  ignoreIndex?: number;
  variant?: SoftmaxVariant;
}

/** Whether a batch runs as one workgroup (one launch) rather than the per-row kernel and its sums. */
export function crossEntropyUsesBatchKernel(batch: number, classes: number, variant?: SoftmaxVariant): boolean {
  return batch <= SINGLE_WORKGROUP_ROWS && (variant ?? defaultRowVariant(classes, false)) === 'thread';
}

/**
 * Mean softmax cross-entropy over the kept rows, with its gradient, in one program: the label
 * count, the fused kernel, then the deterministic sums of the per-row losses and, when
 * `countCorrect`, of the per-row hits — or, for small batches with one invocation per row, all of
 * it in a single one-workgroup launch.
 * io: logits [B, C], labels [B] u32, loss [1] (NaN when no row is kept, as PyTorch), dLogits [B, C],
 * then correct [1] (as f32) when `countCorrect`, then invalid [1] (rows whose label is >= C and not
 * the ignore index, as f32) when `countInvalid`.
 */
export function softmaxCrossEntropyProgram(batch: number, classes: number, options: CrossEntropyProgramOptions = {}): KernelProgram {
  const { countCorrect = false, countInvalid = false, ignoreIndex, variant } = options;
  checkIgnoreIndex('softmaxCrossEntropy', ignoreIndex);
  const pb = new ProgramBuilder('softmax_cross_entropy');
  // Outputs nobody asked for still need somewhere to go: a scratch buffer.
  const correct: ArgRef = countCorrect ? { io: 4 } : pb.temp(1);
  const invalid: ArgRef = countInvalid ? { io: countCorrect ? 5 : 4 } : pb.temp(1);
  if (crossEntropyUsesBatchKernel(batch, classes, variant)) {
    const spec: KernelSpec = {
      name: 'softmax_cross_entropy_batch',
      code: softmaxCrossEntropyBatchShader(),
      entryPoint: 'main',
      constants: { WG: ROW_WG },
      bindings: ['read', 'read', 'write', 'write', 'write', 'write', 'uniform'],
      workgroups: [1, 1, 1],
      uniforms: params(batch, classes, ignoreIndex),
    };
    return { ...pb.add(spec, [{ io: 0 }, { io: 1 }, { io: 2 }, { io: 3 }, correct, invalid]).build(), name: spec.name };
  }
  const kept = pb.temp(1);
  const rowLoss = pb.temp(batch);
  const rowCorrect = pb.temp(batch);
  pb.add(crossEntropyLabelCountSpec(batch, classes, ignoreIndex), [{ io: 1 }, kept, invalid]);
  pb.add(softmaxCrossEntropySpec(batch, classes, ignoreIndex, variant), [{ io: 0 }, { io: 1 }, rowLoss, { io: 3 }, rowCorrect, kept]);
  appendSumAll(pb, [rowLoss], { io: 2 }, batch);
  if (countCorrect) appendSumAll(pb, [rowCorrect], correct, batch);
  return pb.build();
}

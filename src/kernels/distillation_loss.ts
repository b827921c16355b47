import { distillationLossBatchShader, distillationLossShader } from '../../shaders/distillation_loss.js';
import { ShapeError } from '../gpu/errors.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelProgram, type KernelSpec } from './kernel.js';
import { appendSumAll, ProgramBuilder } from './reduce.js';
import { defaultRowVariant, type SoftmaxVariant } from './softmax.js';

const ROW_WG = 64;
/** Up to this many rows (16 per lane) one workgroup does the whole batch, the mean included, in one launch. */
const SINGLE_WORKGROUP_ROWS = 1024;

const shape = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * Checks student and teacher logits (both [B, C]) and the temperature; returns [B, C]. `where`
 * names the op (and layer) in the message.
 */
export function checkDistillationShapes(
  student: readonly number[],
  teacher: readonly number[],
  temperature: number,
  where = 'distillation_loss',
): [number, number] {
  if (student.length !== 2) {
    throw new ShapeError(`${where}: student logits ${shape(student)} must be [batch, classes]; flatten the leading dimensions`);
  }
  if (teacher.length !== 2 || teacher[0] !== student[0] || teacher[1] !== student[1]) {
    throw new ShapeError(
      `${where}: student logits ${shape(student)} and teacher logits ${shape(teacher)} differ; ` +
        `both must be [batch, classes] with the same batch and classes (feed both models the same batch)`,
    );
  }
  if (!(Number.isFinite(temperature) && temperature > 0)) {
    throw new ShapeError(
      `${where}: student logits ${shape(student)}, teacher logits ${shape(teacher)}: temperature ${temperature} must be a finite number > 0 ` +
        `(1 compares the plain softmaxes; 2 to 10 soften them)`,
    );
  }
  return [student[0], student[1]];
}

function uniforms(batch: number, classes: number, temperature: number): ArrayBuffer {
  // Hinton et al.'s T² keeps the gradient's scale independent of T: dS = T²/B · (q − p)/T.
  return new UniformWriter()
    .u32(batch, classes)
    .f32(1 / temperature, temperature / batch, (temperature * temperature) / batch)
    .finish();
}

/**
 * The per-row kernel alone. Bindings: student [B, C], teacher [B, C], rowKL [B] (unscaled
 * KL(softmax(t/T) ‖ softmax(s/T)) per row), dStudent [B, C] = T · (softmax(s/T) − softmax(t/T)) / B.
 * `variant` defaults to defaultRowVariant(classes, false).
 */
export function distillationLossSpec(batch: number, classes: number, temperature: number, variant?: SoftmaxVariant): KernelSpec {
  const cooperative = (variant ?? defaultRowVariant(classes, false)) === 'workgroup';
  // Workgroup lanes: about four elements each, as a power of two for the tree.
  let wg = 32;
  while (cooperative && wg < 256 && wg * 4 < classes) wg *= 2;
  return {
    name: 'distillation_loss',
    code: distillationLossShader(cooperative),
    entryPoint: 'main',
    constants: { WG: cooperative ? wg : ROW_WG },
    bindings: ['read', 'read', 'write', 'write', 'uniform'],
    workgroups: cooperative ? dispatch1D(batch, 1) : dispatch1D(batch, ROW_WG),
    uniforms: uniforms(batch, classes, temperature),
  };
}

/**
 * Mean distillation loss with its gradient. io: student [B, C], teacher [B, C], loss [1]
 * (= T² · mean_b KL(softmax(t_b/T) ‖ softmax(s_b/T))), dStudent [B, C] (= T · (softmax(s/T) −
 * softmax(t/T)) / B). Small batches with one invocation per row: a single one-workgroup launch
 * writes both. Otherwise the per-row kernel writes dStudent and the row KLs in one launch and a
 * deterministic sum (times T²/B) makes the mean.
 */
export function distillationLossProgram(batch: number, classes: number, temperature: number, variant?: SoftmaxVariant): KernelProgram {
  checkDistillationShapes([batch, classes], [batch, classes], temperature);
  if (batch <= SINGLE_WORKGROUP_ROWS && (variant ?? defaultRowVariant(classes, false)) === 'thread') {
    const spec: KernelSpec = {
      name: 'distillation_loss_batch',
      code: distillationLossBatchShader(),
      entryPoint: 'main',
      constants: { WG: ROW_WG },
      bindings: ['read', 'read', 'write', 'write', 'uniform'],
      workgroups: [1, 1, 1],
      uniforms: uniforms(batch, classes, temperature),
    };
    return { name: spec.name, scratch: [], launches: [{ spec, args: [{ io: 0 }, { io: 1 }, { io: 2 }, { io: 3 }] }] };
  }
  const pb = new ProgramBuilder('distillation_loss');
  const rowKL = pb.temp(batch);
  pb.add(distillationLossSpec(batch, classes, temperature, variant), [{ io: 0 }, { io: 1 }, rowKL, { io: 3 }]);
  appendSumAll(pb, [rowKL], { io: 2 }, batch, (temperature * temperature) / batch);
  return pb.build();
}

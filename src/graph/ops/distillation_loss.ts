import { ShapeError } from '../../gpu/errors.js';
import { checkDistillationShapes, distillationLossProgram } from '../../kernels/distillation_loss.js';
import { defaultRowVariant } from '../../kernels/softmax.js';
import { program } from '../lower.js';
import { expectArity, expectF32, scaleBy, type OpRule } from './rule.js';

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface DistillationLossOps {
  /** student, teacher logits [B,C] → T²·mean KL(softmax(t/T) ‖ softmax(s/T)) [1] and dStudent [B,C] from one kernel. */
  distillation_loss: { temperature: number };
}

export const distillationLossRule: OpRule<'distillation_loss'> = {
  infer([student, teacher], { temperature }, where) {
    expectArity(where, [student, teacher], 2, 'student logits, teacher logits');
    expectF32(where, 'student logits', student);
    expectF32(where, 'teacher logits', teacher);
    checkDistillationShapes(student.shape, teacher.shape, temperature, where);
    // Outputs: the mean loss, and dS (its gradient with respect to the student logits).
    return [
      { shape: [1], dtype: 'f32' },
      { shape: student.shape, dtype: 'f32' },
    ];
  },
  // The kernel already wrote dL/ds = T · (softmax(s/T) − softmax(t/T)) / B as its second output.
  // The teacher is a fixed target: its logits get no gradient.
  grad(g, node, [up, upDS], needs) {
    if (upDS !== null) throw new ShapeError('distillation_loss: only its loss output can be differentiated');
    if (needs[1]) {
      throw new ShapeError(
        `distillation_loss: the loss depends on trainable parameters through the teacher logits ${node.inputs[1]}, which get no gradient; ` +
          `detach the teacher logits (stop_gradient) or keep the teacher's parameters out of the minimized store`,
      );
    }
    return [scaleBy(g, node.outputs[1], up), null];
  },
  lower: ({ inputs: [student], attrs }, ctx) =>
    program(distillationLossProgram(student.shape[0], student.shape[1], attrs.temperature, defaultRowVariant(student.shape[1], ctx.software))),
};

import type { Engine } from '../gpu/engine.js';
import { ShapeError } from '../gpu/errors.js';
import { compileStep, type CompiledStep } from '../graph/compile.js';
import type { Graph, Value } from '../graph/ir.js';
import { FrozenView } from '../graph/frozen_view.js';
import type { ImageDataset } from '../data/dataset.js';
import { UNIT_RANGE } from '../data/gpu_dataset.js';
import { checkEpochsAndBatch, epochLoop } from '../train/epoch_loop.js';
import type { Schedule } from '../train/schedules.js';
import type { EpochResult, Progress, Trainer } from '../train/trainer.js';
import type { NonFiniteMode } from '../kernels/optimizer.js';
import { StepWatch } from '../train/step_watch.js';

/** Weights of the two terms of the distillation objective. */
export interface DistillationWeights {
  /** Softens both softmaxes: p = softmax(t/T), q = softmax(s/T); finite, > 0. */
  temperature: number;
  /** Weight of the distillation term, in [0, 1]; the label term gets 1 − alpha. */
  alpha: number;
}

/** The values `distillationObjective` adds to a graph. */
export interface DistillationObjective {
  /** alpha · distillation + (1 − alpha) · labels, [1]: the value to minimize. */
  loss: Value;
  /** T² · mean KL(softmax(t/T) ‖ softmax(s/T)), [1]. */
  distill: Value;
  /** Mean softmax cross-entropy of the student against the labels, [1]. */
  labels: Value;
  /** Rows whose student argmax is the label, [1] (f32 count). */
  correct: Value;
  /** Rows whose label is not a class of the student, [1] (f32 count; training stops when > 0). */
  invalid: Value;
}

/**
 * Adds Hinton et al.'s objective to `g`: alpha · distillation_loss(student, teacher; T) +
 * (1 − alpha) · softmax_cross_entropy(student, labels). The teacher logits are detached, so a teacher
 * traced in the same graph is never differentiated whatever store it lives in. Rows labelled
 * `ignoreIndex` (the student trainer's) count in the label term as in `Trainer.fit`: not at all.
 */
export function distillationObjective(g: Graph, student: Value, teacher: Value, labels: Value, w: DistillationWeights, ignoreIndex?: number): DistillationObjective {
  checkAlpha(w.alpha);
  const [fixed] = g.apply('stop_gradient', [teacher], {});
  const [distill] = g.apply('distillation_loss', [student, fixed], { temperature: w.temperature });
  // Rows with the ignored label leave the label term only; the teacher's term needs no label.
  const [ce, , correct, invalid] = g.apply('softmax_cross_entropy', [student, labels], { ignoreIndex });
  // A term of weight 0 is left out of the loss (it is still computed, as a metric).
  const terms: Value[] = [];
  for (const [v, weight] of [[distill, w.alpha], [ce, 1 - w.alpha]] as const) {
    if (weight !== 0) terms.push(weight === 1 ? v : g.apply('scale', [v], { scale: weight, shift: 0 })[0]);
  }
  const loss = terms.length === 2 ? g.apply('add', terms, {})[0] : terms[0];
  return { loss, distill, labels: ce, correct, invalid };
}

/** Options of `distill`: the two trainers, the objective's weights, and the loop as `Trainer.fit`. */
export interface DistillOptions extends DistillationWeights {
  /** Trained: its store's parameters are updated with its own optimizer (and clipNorm). */
  student: Trainer;
  /** Run in evaluation mode in the same compiled step; its parameters and buffers are never changed. */
  teacher: Trainer;
  epochs: number;
  /** Default 128; the last partial batch of an epoch is dropped. */
  batchSize?: number;
  /** Evaluated with `student.evaluate` after every epoch. */
  evaluate?: ImageDataset;
  /** Learning rate per step from the student optimizer's base rate. */
  schedule?: Schedule;
  /** Called about every `progressEvery` steps (default 20), read without stalling the GPU. */
  onProgress?: (p: DistillProgress) => void;
  progressEvery?: number;
  /** Called after every epoch. */
  onEpoch?: (r: DistillEpoch) => void;
  /** As `FitOptions.onNonFinite`: 'error' (default) stops with a DivergenceError, 'skip' skips the step. */
  onNonFinite?: NonFiniteMode;
}

/** Running figures of the current epoch; `loss` is the weighted objective. */
export interface DistillProgress extends Progress {
  distillLoss: number;
  labelLoss: number;
}

/** One epoch of `distill`: `loss` is the weighted objective, its two terms beside it. */
export interface DistillEpoch extends EpochResult {
  distillLoss: number;
  labelLoss: number;
}

/**
 * Distils `teacher` into `student` on `train`: every step gathers a batch on the GPU, runs the
 * student (training mode) and the teacher (evaluation mode) on it, and minimizes
 * alpha · distillation_loss + (1 − alpha) · cross-entropy over the student's parameters only — one
 * command buffer per step, like `Trainer.fit`. The samples are reshuffled every epoch (seeded by
 * the student's seed). The teacher may take another input shape of the same size (a CNN teacher
 * for an MLP student) and another normalisation: the batch is reshaped and renormalised for it
 * inside the step. Images with per-channel statistics (`channelNormalisation`) are normalised by
 * them for both networks, and become the student's predictor default, as `fit` makes them.
 * Option and shape errors are thrown before any GPU work.
 */
export function distill(engine: Engine, train: ImageDataset, o: DistillOptions): Promise<DistillEpoch[]> {
  // The student trains (no other fit on it meanwhile); the teacher is only read. Disposing either
  // stops the loop before its next step, and distill resolves with the epochs finished.
  return o.student.lifecycle.fit('distill', () => o.teacher.lifecycle.use('distill', () => run(engine, train, o)));
}

async function run(engine: Engine, train: ImageDataset, o: DistillOptions): Promise<DistillEpoch[]> {
  const { student, teacher } = o;
  const batch = o.batchSize ?? 128;
  checkOptions(engine, train, o, batch);
  student.learningFrom(train);
  const step = await traceStep(engine, batch, o);
  try {
    const history: DistillEpoch[] = [];
    const loop = epochLoop({
      engine,
      step,
      train,
      normalisation: student.options.normalisation ?? UNIT_RANGE,
      metrics: ['loss', 'distill', 'labels', 'correct', 'invalid'],
      watch: new StepWatch({ who: 'distill', runs: () => step.step, store: student.store, stepsPerEpoch: Math.floor(train.count / batch), invalidLabels: { metric: 'invalid', classes: student.classes } }),
      batch,
      epochs: o.epochs,
      seed: student.options.seed ?? 0,
      optimizer: student.requireOptimizer('distill'),
      schedule: o.schedule,
      progressEvery: o.progressEvery,
      stop: () => student.lifecycle.stopping || teacher.lifecycle.stopping,
      onProgress:
        o.onProgress &&
        ((p) => o.onProgress!({ epoch: p.epoch, step: p.step, steps: p.steps, ...figures(p.sums, p.step - p.skipped, batch), samplesPerSec: p.samplesPerSec, skippedSteps: p.skipped })),
    });
    for await (const { epoch, steps, sums: s, skipped, seconds, lr } of loop) {
      const f = figures(s, steps - skipped, batch);
      const result: DistillEpoch = {
        epoch,
        loss: f.loss,
        distillLoss: f.distillLoss,
        labelLoss: f.labelLoss,
        trainAccuracy: f.accuracy,
        samplesPerSec: (steps * batch) / seconds,
        seconds,
        lr,
        skippedSteps: skipped,
      };
      if (student.lifecycle.stopping || teacher.lifecycle.stopping) break;
      if (o.evaluate) {
        const e = await student.evaluate(o.evaluate);
        result.evalLoss = e.loss;
        result.evalAccuracy = e.accuracy;
      }
      history.push(result);
      o.onEpoch?.(result);
    }
    return history;
  } finally {
    step.dispose();
  }
}

/** Means over `steps` steps of the summed step outputs. */
function figures(s: Record<string, number>, steps: number, batch: number) {
  return { loss: s.loss / steps, distillLoss: s.distill / steps, labelLoss: s.labels / steps, accuracy: s.correct / (steps * batch) };
}

function traceStep(engine: Engine, batch: number, o: DistillOptions): Promise<CompiledStep<'x' | 'labels'>> {
  const { student, teacher } = o;
  // The teacher's parameters appear as 'teacher/…': a same-architecture student names its own alike.
  const view = new FrozenView(teacher.store, 'teacher/');
  return compileStep(engine, {
    inputs: { x: { shape: [batch, ...student.options.inputShape] }, labels: { shape: [batch], dtype: 'u32' } },
    stores: [student.store, view],
    build: (g, { x, labels }) => {
      const s = student.options.model.apply(g, x, { store: student.store, training: true });
      const t = teacher.options.model.apply(g, teacherInput(g, x, o), { store: view, training: false });
      const objective = distillationObjective(g, s, t, labels, o, student.options.ignoreIndex);
      const { loss } = objective;
      return {
        outputs: { loss, distill: objective.distill, labels: objective.labels, correct: objective.correct, invalid: objective.invalid },
        minimize: { loss, store: student.store, optimizer: student.requireOptimizer('distill'), clipNorm: student.options.clipNorm, onNonFinite: o.onNonFinite },
      };
    },
  });
}

/**
 * The student's batch as the teacher takes it: reshaped to its input shape, and renormalised when
 * the two normalise pixels differently. A pixel v = x_s·σ_s + μ_s gives x_t = (v − μ_t)/σ_t =
 * x_s·(σ_s/σ_t) + (μ_s − μ_t)/σ_t, one scale op.
 */
function teacherInput(g: Graph, x: Value, { student, teacher }: DistillOptions): Value {
  const shape = [x.shape[0], ...teacher.options.inputShape];
  let t = shape.join() === x.shape.join() ? x : g.apply('reshape', [x], { shape })[0];
  const ns = student.options.normalisation ?? UNIT_RANGE;
  const nt = teacher.options.normalisation ?? UNIT_RANGE;
  if (ns.mean !== nt.mean || ns.std !== nt.std) {
    t = g.apply('scale', [t], { scale: ns.std / nt.std, shift: (ns.mean - nt.mean) / nt.std })[0];
  }
  return t;
}

function checkAlpha(alpha: number): void {
  if (!(Number.isFinite(alpha) && alpha >= 0 && alpha <= 1)) {
    throw new ShapeError(`distill: alpha ${alpha} must be in [0, 1] (the weight of the distillation term; 1 − alpha weights the labels)`);
  }
}

function checkOptions(engine: Engine, train: ImageDataset, o: DistillOptions, batch: number): void {
  const { student, teacher } = o;
  if (student.engine !== engine || teacher.engine !== engine) throw new ShapeError('distill: the student and the teacher must be trainers on the engine given to distill');
  if (student === teacher || student.store === teacher.store) throw new ShapeError('distill: the student and the teacher must be two trainers with their own parameters');
  checkAlpha(o.alpha);
  if (!(Number.isFinite(o.temperature) && o.temperature > 0)) {
    throw new ShapeError(`distill: temperature ${o.temperature} must be a finite number > 0 (1 compares the plain softmaxes; 2 to 10 soften them)`);
  }
  checkEpochsAndBatch('distill', o.epochs, batch, train.count);
  if (student.classes !== teacher.classes) {
    throw new ShapeError(`distill: the student has ${student.classes} classes and the teacher ${teacher.classes}; both must score the same classes`);
  }
  const own = train.channelNormalisation;
  for (const [who, t] of [['student', student], ['teacher', teacher]] as const) {
    const n = t.options.normalisation;
    if (!own || !n || (n.mean === UNIT_RANGE.mean && n.std === UNIT_RANGE.std)) continue;
    // Both networks see the batch normalised by the images' own per-channel statistics; no scalar normalisation maps onto that.
    throw new ShapeError(
      `distill: the images carry per-channel normalisation (mean [${own.mean.join(', ')}]), which both networks see, but the ${who} normalises with { mean: ${n.mean}, std: ${n.std} }; ` +
        `use a ${who} without a normalisation option (trained on these images, for a teacher), or drop channelNormalisation from the dataset`,
    );
  }
  for (const [who, t] of [['student', student], ['teacher', teacher]] as const) {
    try {
      t.checkDataset(train);
    } catch (e) {
      throw new ShapeError(`distill: the ${who}: ${(e as Error).message}`);
    }
  }
}

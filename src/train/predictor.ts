import '../gpu/dispose.js';
import { UNIT_RANGE } from '../data/gpu_dataset.js';
import type { Engine } from '../gpu/engine.js';
import { DisposedError, ShapeError } from '../gpu/errors.js';
import { compileStep, type CompiledStep } from '../graph/compile.js';
import type { DType } from '../graph/ir.js';
import { ParameterStore } from '../graph/params.js';
import type { Module } from '../nn/module.js';
import { byteTable, normaliseBytes, recordedNormalisation, type ByteTable, type InputNormalisation, type NormalisationOrigin } from './input_normalisation.js';
import { argmaxRows } from './metrics.js';
import { CheckpointError, checkCheckpoint, decodeSafetensors } from './safetensors.js';
import { modelOutputShape } from './task_step.js';

/** Options of `loadModel` and of a `Predictor`: the sample shape and how bytes are normalised. */
export interface PredictorOptions {
  /** Shape of one sample as the model takes it: [784] for an MLP, [1, 28, 28] for a CNN. */
  inputShape: readonly number[];
  /**
   * How Uint8Array inputs become floats: (byte/255 − mean[c])/std[c], per channel c (dim 0 of an
   * inputShape [C, H, W]), or one number for every channel: { mean: 0.5, std: 0.5 }. Default
   * `UNIT_RANGE` (byte/255). `Trainer.predictor()` defaults it to what its training used, and
   * `loadModel` to what the checkpoint records (the CLI's ResNet files); given here, it wins.
   * `predictor.options.normalisation` is the one applied (undefined: byte/255). Checked at
   * construction: a list whose length is not the channel count, or a std ≤ 0 or not finite, is a
   * ShapeError.
   */
  normalisation?: InputNormalisation;
  /**
   * What the model takes: 'f32' (default; Float32Array inputs, or Uint8Array normalised) or 'u32'
   * (Uint32Array ids, e.g. for a model starting with an Embedding).
   */
  inputDType?: 'f32' | 'u32';
}

/** Options of `Predictor.predict` and `predictClasses`. */
export interface PredictOptions {
  /** Samples per forward pass (default: all of them, at most 256); the last batch may be smaller. */
  batchSize?: number;
}

/** Inputs a predictor takes: floats, bytes (normalised) or integer ids (for a model taking u32). */
export type PredictInput = Float32Array | Uint8Array | Uint32Array;

const DEFAULT_BATCH = 256;
// Calls of many different sizes would each keep a plan: beyond this many, the least recently used goes.
const MAX_PLANS = 8;

/**
 * A model ready for inference: a forward-only compiled plan per batch size (made on first use and
 * kept, the 8 most recently used), in evaluation mode (BatchNorm's running statistics, no dropout), with no gradients kept
 * and no optimizer state. Made by `loadModel` (owning its parameters) or `Trainer.predictor()`
 * (sharing the trainer's). Calls are served one at a time, in order. `dispose()` (or `using`)
 * frees its GPU memory.
 */
export class Predictor {
  /** The shape of one sample's output, e.g. [10] for ten logits. */
  readonly outputShape: readonly number[];
  private readonly bytes: ByteTable;
  private readonly steps = new Map<string, CompiledStep<'x'>>();
  private stepsDevice: GPUDevice | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  /**
   * Use `loadModel` or `Trainer.predictor()`. With `ownsStore`, dispose frees the parameters too;
   * `onDispose` tells the owner of a shared store that this predictor is gone; `normalisationFrom`
   * says where `options.normalisation` came from, for its errors (default 'Predictor: normalisation').
   */
  constructor(
    readonly engine: Engine,
    readonly model: Module,
    readonly store: ParameterStore,
    readonly options: PredictorOptions,
    private readonly ownership: { ownsStore?: boolean; onDispose?: () => void; normalisationFrom?: NormalisationOrigin } = {},
  ) {
    checkInputShape(options.inputShape);
    if (options.inputDType !== undefined && options.inputDType !== 'f32' && options.inputDType !== 'u32') {
      throw new ShapeError(`inputDType '${String(options.inputDType)}' must be 'f32' or 'u32'`);
    }
    this.bytes = byteTable(options.normalisation === undefined ? UNIT_RANGE : options.normalisation, options.inputShape, ownership.normalisationFrom ?? { field: 'Predictor: normalisation' });
    this.outputShape = modelOutputShape(model, store, options.inputShape, options.inputDType);
  }

  /**
   * The model's outputs (logits, regression values) for the samples in `x`, one after another
   * (`x.length / prod(inputShape)` of them), as one Float32Array [count, ...outputShape].
   * Uint8Array inputs are normalised as `options.normalisation` says, channel by channel; Uint32Array inputs (ids)
   * go as they are to a model made with `inputDType: 'u32'`.
   */
  predict(x: PredictInput, o: PredictOptions = {}): Promise<Float32Array> {
    return this.serve(() => this.forward(x, o));
  }

  /** The index of the largest output of each sample (the predicted class). */
  async predictClasses(x: PredictInput, o: PredictOptions = {}): Promise<Uint32Array> {
    const outputs = await this.predict(x, o);
    return argmaxRows(outputs, this.outputShape.reduce((a, b) => a * b, 1));
  }

  /** Frees the compiled plans (and the parameters, if this predictor loaded them). Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of this.steps.values()) s.dispose();
    this.steps.clear();
    if (this.ownership.ownsStore) this.store.dispose();
    this.ownership.onDispose?.();
  }

  /** Disposes the predictor at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  private serve<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async forward(x: PredictInput, o: PredictOptions): Promise<Float32Array> {
    if (this.disposed) throw new DisposedError('Predictor was used after dispose()');
    const perSample = this.options.inputShape.reduce((a, b) => a * b, 1);
    if (!(x instanceof Float32Array || x instanceof Uint8Array || x instanceof Uint32Array)) {
      throw new ShapeError(`predict: x must be a Float32Array, Uint8Array or Uint32Array, got ${x === null ? 'null' : typeof x === 'object' ? (x as object).constructor.name : typeof x}`);
    }
    if (x.length === 0 || x.length % perSample !== 0) {
      throw new ShapeError(`predict: x has ${x.length} values, not a positive multiple of inputShape [${this.options.inputShape.join(', ')}] = ${perSample} values per sample`);
    }
    const dtype: DType = this.options.inputDType ?? 'f32';
    if ((dtype === 'u32') !== x instanceof Uint32Array) {
      const want = dtype === 'u32' ? 'a Uint32Array of ids' : 'a Float32Array or Uint8Array';
      throw new ShapeError(`predict: this predictor's model takes ${dtype} inputs (inputDType), so x must be ${want}, got a ${x.constructor.name}`);
    }
    const count = x.length / perSample;
    const batch = o.batchSize ?? Math.min(count, DEFAULT_BATCH);
    if (!Number.isInteger(batch) || batch < 1) throw new ShapeError(`predict: batchSize ${batch} must be a positive integer`);
    const inputs = x instanceof Uint8Array ? normaliseBytes(x, perSample, this.bytes) : x;
    const width = this.outputShape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(count * width);
    for (let start = 0; start < count; start += batch) {
      const n = Math.min(batch, count - start);
      const step = await this.step(n, dtype);
      step.run({ x: inputs.subarray(start * perSample, (start + n) * perSample) });
      out.set(await step.read('y'), start * width);
    }
    return out;
  }

  private async step(batch: number, dtype: DType): Promise<CompiledStep<'x'>> {
    if (this.stepsDevice !== this.engine.device) {
      // Made on a device since lost and replaced (Engine.recover): remade on the new one.
      for (const old of this.steps.values()) old.dispose();
      this.steps.clear();
      this.stepsDevice = this.engine.device;
    }
    const key = `${dtype}:${batch}`;
    let s = this.steps.get(key);
    if (s) {
      // Most recently used last, so the eviction below drops the plan unused longest.
      this.steps.delete(key);
      this.steps.set(key, s);
    } else {
      const { model, store } = this;
      s = await compileStep(this.engine, {
        inputs: { x: { shape: [batch, ...this.options.inputShape], dtype } },
        stores: [store],
        build: (g, { x }) => ({ outputs: { y: model.apply(g, x, { store, training: false }) } }),
      });
      if (this.disposed) {
        s.dispose();
        throw new DisposedError('Predictor was disposed while compiling');
      }
      this.steps.set(key, s);
      if (this.steps.size > MAX_PLANS) {
        const [oldest, plan] = this.steps.entries().next().value!;
        plan.dispose();
        this.steps.delete(oldest);
      }
    }
    return s;
  }
}

/**
 * Loads a checkpoint (safetensors from `Trainer.checkpoint`, the CLI's `--out`, or PyTorch's
 * `save_file(model.state_dict())` for the same module) into `model` for inference. The file is
 * checked whole first (format, names, shapes, finite values): one saved from another model is a
 * CheckpointError listing what differs, and nothing is left allocated. Without
 * `options.normalisation`, byte inputs are normalised as the file's metadata records (`config`
 * JSON's `normalisation`, which the CLI's ResNet checkpoints carry: per-channel statistics of the
 * training images), else byte/255; `options.normalisation` given wins over the file's.
 *
 * @example
 * const predictor = loadModel(engine, await readFile('w.safetensors'), mnistMlp(), { inputShape: [784] });
 * const classes = await predictor.predictClasses(pixels); // Uint8Array of n × 784 bytes
 * predictor.dispose();
 */
export function loadModel(engine: Engine, bytes: Uint8Array, model: Module, options: PredictorOptions & { source?: string }): Predictor {
  if (typeof options !== 'object' || options === null) throw new ShapeError(`loadModel: options must be an object with inputShape, e.g. { inputShape: [784] }, got ${String(options)}`);
  const source = options.source ?? 'checkpoint';
  if (!(bytes instanceof Uint8Array)) throw new CheckpointError(`loadModel: ${source} must be the file's bytes as a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`);
  const store = new ParameterStore(engine, { seed: 0 });
  try {
    model.register(store);
    const { tensors, metadata } = decodeSafetensors(bytes, { source, requireFinite: true });
    try {
      checkCheckpoint(new Map(store.stateDict.map((p) => [p.name, p.shape])), tensors);
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      throw new CheckpointError(`loadModel: ${source} was not saved from this model (${model.describe()}); ${e.message.replace(/^checkpoint /, '')}\nLoad it into the model it was saved from.`);
    }
    const recorded = options.normalisation === undefined ? recordedNormalisation(metadata, source) : undefined;
    const normalisationFrom = recorded
      ? { field: `loadModel: ${source}'s metadata config.normalisation`, fix: 'or pass normalisation to loadModel to use another' }
      : { field: 'loadModel: normalisation' };
    const predictor = new Predictor(engine, model, store, recorded ? { ...options, normalisation: recorded } : options, { ownsStore: true, normalisationFrom });
    for (const t of tensors.values()) store.write(t.name, t.data);
    return predictor;
  } catch (e) {
    store.dispose();
    throw e;
  }
}

function checkInputShape(shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new ShapeError(`inputShape ${JSON.stringify(shape)} must be a non-empty list of positive integers: the shape of one sample, e.g. [784] or [1, 28, 28]`);
  }
}


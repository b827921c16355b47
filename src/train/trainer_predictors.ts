import type { Engine } from '../gpu/engine.js';
import { ShapeError } from '../gpu/errors.js';
import type { ParameterStore } from '../graph/params.js';
import { byteTable, dataNormalisation, recordedNormalisation, type InputNormalisation } from './input_normalisation.js';
import { softmaxRows } from './metrics.js';
import { Predictor } from './predictor.js';
import type { TrainingData } from './task_step.js';
import type { TrainerOptions } from './trainer_options.js';

/** Options of `Trainer.predictor`. */
export interface TrainerPredictorOptions {
  /** 'u32' for a model taking ids (an Embedding first); default 'f32'. */
  inputDType?: 'f32' | 'u32';
  /** How byte inputs become floats; default: as the trainer's training normalised them (see `Trainer.predictor`). */
  normalisation?: InputNormalisation;
}

/**
 * The predictors a Trainer made over its parameters (disposed with it), and the normalisation
 * they apply to bytes by default: how the bytes the parameters last learnt from were normalised.
 * That is the later of the last fit's (its data's statistics, else TrainerOptions.normalisation)
 * and the one recorded by the last loaded checkpoint that records one; TrainerOptions.normalisation
 * before either.
 */
export class TrainerPredictors {
  private readonly live = new Set<Predictor>();
  private forBytes: Predictor | undefined;
  // Where the fit data decided its own normalisation (channel statistics, a byte tensor dataset's).
  private fitNormalisation: InputNormalisation | undefined;
  // What the last loaded checkpoint recorded (a CLI ResNet file's config.normalisation), until a fit.
  private loadedNormalisation: { normalisation: InputNormalisation; source: string } | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly options: TrainerOptions,
    private readonly store: ParameterStore,
  ) {}

  /** Records how `train`, about to be fitted on, normalises its bytes: it supersedes a loaded checkpoint's. */
  fitting(train: TrainingData): void {
    this.fitNormalisation = dataNormalisation(train);
    this.loadedNormalisation = undefined;
  }

  /**
   * Checks the normalisation a checkpoint's `metadata` records (a CheckpointError when malformed, a
   * ShapeError when it does not fit inputShape) and returns what makes it the default once the
   * checkpoint's weights are written; a checkpoint recording none leaves the default as it was.
   */
  loading(metadata: Record<string, string>, source: string): () => void {
    const field = `Trainer.load: ${source}'s metadata config.normalisation`;
    const fix = 'the file does not belong to this model: load it into the model it was saved from';
    const recorded = recordedNormalisation(metadata, source, fix);
    if (!recorded) return () => {};
    byteTable(recorded, this.options.inputShape, { field, fix });
    return () => {
      this.loadedNormalisation = { normalisation: recorded, source };
      this.fitNormalisation = undefined;
    };
  }

  /** The normalisation byte inputs get unless one is given. */
  get trained(): InputNormalisation | undefined {
    return this.fitNormalisation ?? this.loadedNormalisation?.normalisation ?? this.options.normalisation;
  }

  /** How the default came about, for the errors of a predictor made with it. */
  private defaultOrigin(): string {
    if (this.fitNormalisation) return "Trainer.predictor: the training data's normalisation";
    if (this.loadedNormalisation) return `Trainer.load: ${this.loadedNormalisation.source}'s metadata config.normalisation`;
    return 'Trainer: normalisation';
  }

  make(o: TrainerPredictorOptions): Predictor {
    const given = o.normalisation !== undefined;
    const normalisation = given ? o.normalisation : this.trained;
    const field = given ? 'Trainer.predictor: normalisation' : this.defaultOrigin();
    const from = { field, fix: given ? undefined : 'or pass Trainer.predictor({ normalisation }) to use another' };
    const p = new Predictor(this.engine, this.options.model, this.store, { inputShape: this.options.inputShape, normalisation, inputDType: o.inputDType }, { onDispose: () => this.live.delete(p), normalisationFrom: from });
    this.live.add(p);
    return p;
  }

  /** The predictor `Trainer.predict` uses: remade when a fit on other data changed the default normalisation. */
  bytesPredictor(): Predictor {
    if (!this.forBytes || !this.live.has(this.forBytes) || this.forBytes.options.normalisation !== this.trained) {
      this.forBytes?.dispose();
      this.forBytes = this.make({});
    }
    return this.forBytes;
  }

  /** `Trainer.predict`: class probabilities for `count` samples of raw bytes, normalised as `bytesPredictor` does. */
  async probabilities(images: Uint8Array, count: number, classes: number): Promise<Float32Array> {
    const pixels = this.options.inputShape.reduce((a, b) => a * b, 1);
    if (images.length !== count * pixels) throw new ShapeError(`predict: ${images.length} bytes for ${count} samples of ${pixels} pixels`);
    const logits = await this.bytesPredictor().predict(images, { batchSize: count });
    return softmaxRows(logits, classes);
  }

  disposeAll(): void {
    for (const p of [...this.live]) p.dispose();
  }
}

import type { Engine } from '../gpu/engine.js';
import type { ParameterStore } from '../graph/params.js';
import { dataNormalisation, type InputNormalisation } from './input_normalisation.js';
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
 * they apply to bytes by default: what the last fit's data used, since that is what the model saw.
 */
export class TrainerPredictors {
  private readonly live = new Set<Predictor>();
  private forBytes: Predictor | undefined;
  // Where the fit data decided its own normalisation (channel statistics, a byte tensor dataset's).
  private fitNormalisation: InputNormalisation | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly options: TrainerOptions,
    private readonly store: ParameterStore,
  ) {}

  /** Records how `train`, about to be fitted on, normalises its bytes. */
  fitting(train: TrainingData): void {
    this.fitNormalisation = dataNormalisation(train);
  }

  /** The normalisation byte inputs get unless one is given. */
  get trained(): InputNormalisation | undefined {
    return this.fitNormalisation ?? this.options.normalisation;
  }

  make(o: TrainerPredictorOptions): Predictor {
    const given = o.normalisation !== undefined;
    const normalisation = given ? o.normalisation : this.trained;
    const field = given ? 'Trainer.predictor: normalisation' : this.fitNormalisation ? "Trainer.predictor: the training data's normalisation" : 'Trainer: normalisation';
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

  disposeAll(): void {
    for (const p of [...this.live]) p.dispose();
  }
}

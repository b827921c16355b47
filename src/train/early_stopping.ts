import { ShapeError } from '../gpu/errors.js';

/** Counts epochs without an improvement of the evaluation loss by more than `minDelta`. */
export class EarlyStopping {
  private best = Infinity;
  private epochs = 0;

  constructor(
    private readonly patience: number,
    private readonly minDelta = 0,
  ) {
    if (!Number.isInteger(patience) || patience < 1) throw new ShapeError(`earlyStopping: patience ${patience} must be a positive integer (epochs without improvement before stopping)`);
    if (!(Number.isFinite(minDelta) && minDelta >= 0)) throw new ShapeError(`earlyStopping: minDelta ${minDelta} must be a finite number >= 0`);
  }

  /** True once `patience` epochs in a row have not improved on the best loss. */
  stale(loss: number): boolean {
    if (loss < this.best - this.minDelta) {
      this.best = loss;
      this.epochs = 0;
      return false;
    }
    return ++this.epochs >= this.patience;
  }
}

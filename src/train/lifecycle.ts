import { BusyError, DisposedError } from '../gpu/errors.js';

/**
 * What a trainer may do when: one fit at a time, nothing after dispose(), and a dispose() that may
 * come at any moment — from a progress callback inside fit, say — but frees the GPU resources only
 * once no running operation still records work on them. A running loop polls `stopping` before
 * each step and ends there.
 */
export class Lifecycle {
  private disposed = false;
  private fitting = false;
  private active = 0;

  constructor(
    /** The owner's name in messages, e.g. 'Trainer'. */
    private readonly owner: string,
    private readonly release: () => void,
  ) {}

  /** True once dispose() was called: loops stop before their next step. */
  get stopping(): boolean {
    return this.disposed;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Throws a DisposedError naming `op` once disposed. */
  check(op: string): void {
    if (this.disposed) throw new DisposedError(`${this.owner}.${op}: the ${this.owner} was disposed; create a new one to continue`);
  }

  /** Runs `body` as one operation: refused after dispose; a dispose during it frees at its end. */
  async use<T>(op: string, body: () => Promise<T>): Promise<T> {
    this.check(op);
    this.active++;
    try {
      return await body();
    } finally {
      if (--this.active === 0 && this.disposed) this.release();
    }
  }

  /** Like `use`, and refused at once while another fit of the same owner runs. */
  async fit<T>(op: string, body: () => Promise<T>): Promise<T> {
    this.check(op);
    if (this.fitting) {
      throw new BusyError(`${this.owner}.${op}: this ${this.owner} is already training; await the running fit before starting another (two would interleave their updates)`);
    }
    this.fitting = true;
    try {
      return await this.use(op, body);
    } finally {
      this.fitting = false;
    }
  }

  /** Marks the owner disposed; frees now, or when the last running operation ends. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.active === 0) this.release();
  }
}

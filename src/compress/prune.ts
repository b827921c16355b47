import type { Engine } from '../gpu/engine.js';
import { DisposedError, ShapeError } from '../gpu/errors.js';
import type { ParamEntry, ParameterStore } from '../graph/params.js';
import { encodeLaunch, makeLaunch, type Launch } from '../gpu/launch.js';
import { checkSparsity, magnitudeMasks, type PruningScope } from './magnitude.js';
import { applyMaskSpec } from '../kernels/apply_mask.js';
import { clearBit, keepAllMask } from './mask_bits.js';
import { weightTensors, type TensorFilter } from './select.js';

export type { PruningScope };

/** Options of `computePruningMasks`. */
export interface PruningOptions {
  /** Fraction of the chosen weights set to zero, in [0, 1). */
  sparsity: number;
  /** Rank weights over all chosen tensors together, or each tensor on its own. */
  scope: PruningScope;
  /** Which parameters to prune; by default weights of rank ≥ 2 (no biases, no batch norm). */
  include?: TensorFilter;
}

/** The zeros of one parameter tensor. */
export interface TensorSparsity {
  name: string;
  shape: readonly number[];
  size: number;
  zeros: number;
  /** zeros / size. */
  fraction: number;
}

/** The zeros of every pruned tensor, from `Pruner.sparsity()`. */
export interface SparsityReport {
  tensors: TensorSparsity[];
  /** Zeros over every pruned tensor together. */
  overall: number;
}

/**
 * Magnitude pruning of a model's parameters: ranks the chosen weights by |w| as they are now and
 * returns a `Pruner` holding the mask. The mask is not applied yet: call `applyNow()`, or record
 * `encode` after each optimizer step so fine-tuning keeps pruned weights at zero.
 */
export async function computePruningMasks(store: ParameterStore, options: PruningOptions): Promise<Pruner> {
  checkOptions(options);
  const include = options.include ?? weightTensors;
  const entries = store.list.filter((e) => include(e.name, e.shape));
  if (!entries.length) {
    const known = store.list.map((e) => `${e.name} [${e.shape.join(', ')}]`).join(', ') || 'none';
    throw new ShapeError(
      `prune: no parameter matched (parameters: ${known}); by default only weights of rank ≥ 2 named '*.weight' are pruned; pass 'include' to choose others`,
    );
  }
  const pruner = await Pruner.create(store, entries, options.scope);
  try {
    await pruner.update(options.sparsity);
  } catch (e) {
    pruner.dispose();
    throw e;
  }
  return pruner;
}

function checkOptions(o: PruningOptions): void {
  checkSparsity('prune', o.sparsity);
  if (o.scope !== 'global' && o.scope !== 'per-layer') throw new ShapeError(`prune: scope '${String(o.scope)}' is unknown; use 'global' or 'per-layer'`);
}

/**
 * Owns the pruning mask of one parameter store: one bit per value of the store's flat parameter
 * buffer, set for every value that is kept (biases, unpruned tensors and padding included). It is
 * applied by one dispatch over the whole flat buffer rather than one per pruned tensor: the cost
 * does not grow with the number of layers, one bind group serves, and the bits of the values
 * that are never pruned (biases are a small share of a model) add only n/32 words to read.
 */
export class Pruner {
  private disposed = false;
  private target = 0;

  private constructor(
    private readonly engine: Engine,
    private readonly store: ParameterStore,
    private readonly entries: readonly ParamEntry[],
    readonly scope: PruningScope,
    private readonly mask: GPUBuffer,
    private readonly launch: Launch,
    private readonly owned: GPUBuffer[],
  ) {}

  /** Builds the mask buffer (all kept) and the masking launch over `store`'s parameters. */
  static async create(store: ParameterStore, entries: readonly ParamEntry[], scope: PruningScope): Promise<Pruner> {
    const engine = store.engine;
    const n = store.length;
    const mask = engine.createStorage(Math.ceil(n / 32) * 4, 'pruning mask');
    const owned = [mask];
    try {
      engine.upload(mask, keepAllMask(n));
      const launch = await makeLaunch(engine, applyMaskSpec(n), [store.paramBuffer, mask], owned);
      return new Pruner(engine, store, entries, scope, mask, launch, owned);
    } catch (e) {
      for (const b of owned) engine.buffers.destroy(b);
      throw e;
    }
  }

  /** Names of the pruned tensors. */
  get tensors(): string[] {
    return this.entries.map((e) => e.name);
  }

  /** The sparsity the mask was last computed for. */
  get targetSparsity(): number {
    return this.target;
  }

  /**
   * Recomputes the mask at `sparsity` from the weights as they are now (gradual pruning, with
   * `polynomialSparsity`). Values already pruned and kept at zero rank first, so a growing
   * sparsity never revives them.
   */
  async update(sparsity: number): Promise<void> {
    this.check();
    checkSparsity('prune', sparsity);
    const all = new Float32Array(await this.engine.readBytes(this.store.paramBuffer, this.store.length * 4));
    const weights = this.entries.map((e) => all.subarray(e.offset, e.offset + e.size));
    const pruned = magnitudeMasks(weights, sparsity, this.scope);
    const bits = keepAllMask(this.store.length);
    this.entries.forEach((e, t) => {
      const m = pruned[t];
      for (let i = 0; i < m.length; i++) if (m[i]) clearBit(bits, e.offset + i);
    });
    this.engine.upload(this.mask, bits);
    this.target = sparsity;
  }

  /** Records the masking dispatch, in a compute pass of its own (e.g. in a step's `after` hook). */
  encode(encoder: GPUCommandEncoder): void {
    this.check();
    const pass = encoder.beginComputePass({ label: 'apply pruning mask' });
    encodeLaunch(pass, this.launch);
    pass.end();
  }

  /** Zeroes the pruned weights now, after all work recorded so far. */
  async applyNow(): Promise<void> {
    this.check();
    // Eager work (parameter initialisation, uploads) is submitted first, so the mask lands after it.
    await this.engine.flush();
    const encoder = this.engine.device.createCommandEncoder({ label: 'apply pruning mask' });
    this.encode(encoder);
    this.engine.device.queue.submit([encoder.finish()]);
  }

  /** Reads the parameters back and counts the zeros of each pruned tensor: the sparsity actually reached. */
  async sparsity(): Promise<SparsityReport> {
    this.check();
    const all = new Float32Array(await this.engine.readBytes(this.store.paramBuffer, this.store.length * 4));
    let zeros = 0;
    let size = 0;
    const tensors = this.entries.map((e) => {
      let z = 0;
      for (let i = e.offset; i < e.offset + e.size; i++) if (all[i] === 0) z++;
      zeros += z;
      size += e.size;
      return { name: e.name, shape: e.shape, size: e.size, zeros: z, fraction: z / e.size };
    });
    return { tensors, overall: zeros / size };
  }

  /** Frees the mask buffers; the pruner cannot be used after. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of this.owned) this.engine.buffers.destroy(b);
  }

  private check(): void {
    if (this.disposed) throw new DisposedError('pruner was used after dispose()');
  }
}

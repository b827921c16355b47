import { adamKernel, adamUniforms, sgdKernel, sgdUniforms, type AdamConfig, type SGDConfig } from '../kernels/optimizer.js';
import type { UpdateRule } from '../graph/update.js';

/**
 * An optimizer: an update rule with a learning rate that schedules may change between steps. The
 * rules follow torch.optim exactly, so a run continued in PyTorch behaves the same.
 */
export abstract class Optimizer implements UpdateRule {
  abstract readonly name: string;
  /** Per-parameter state buffers, named as torch.optim names them (checkpoints use these names). */
  abstract readonly stateKeys: readonly string[];
  abstract lr: number;
  abstract kernel(n: number, step: number, guarded?: boolean): ReturnType<UpdateRule['kernel']>;
  /** The update kernel's uniform values for `n` parameters at step `step` (1-based), learning rate included. */
  abstract uniforms(n: number, step: number): ArrayBuffer;
}

/** torch.optim.SGD: momentum, dampening, Nesterov, L2 weight decay. */
export class SGD extends Optimizer {
  readonly name = 'sgd';
  readonly stateKeys: readonly string[];
  private config: SGDConfig;

  constructor(config: SGDConfig) {
    super();
    this.config = { ...config };
    this.stateKeys = (config.momentum ?? 0) > 0 ? ['momentum_buffer'] : [];
    sgdUniforms(1, this.config, 1); // validates now, not at the first step
  }

  get lr(): number {
    return this.config.lr;
  }

  set lr(value: number) {
    this.config = { ...this.config, lr: value };
  }

  kernel(n: number, step: number, guarded = false) {
    return sgdKernel(n, this.config, step, guarded);
  }

  uniforms(n: number, step: number) {
    return sgdUniforms(n, this.config, step);
  }
}

/** torch.optim.Adam (decoupled = false: L2 added to the gradient) and AdamW (decoupled decay). */
export class Adam extends Optimizer {
  readonly name: string;
  readonly stateKeys = ['exp_avg', 'exp_avg_sq'];
  private config: AdamConfig;

  constructor(
    config: AdamConfig = {},
    private readonly decoupled = false,
  ) {
    super();
    this.name = decoupled ? 'adamw' : 'adam';
    this.config = { lr: 1e-3, ...config };
    adamUniforms(1, this.config, 1, decoupled);
  }

  get lr(): number {
    return this.config.lr!;
  }

  set lr(value: number) {
    this.config = { ...this.config, lr: value };
  }

  kernel(n: number, step: number, guarded = false) {
    return adamKernel(n, this.config, step, this.decoupled, guarded);
  }

  uniforms(n: number, step: number) {
    return adamUniforms(n, this.config, step, this.decoupled);
  }
}

/** torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2). */
export class AdamW extends Adam {
  constructor(config: AdamConfig = {}) {
    super(config, true);
  }
}

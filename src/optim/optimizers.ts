import {
  adamKernel,
  checkAdamConfig,
  checkLearningRate,
  checkSgdConfig,
  sgdKernel,
  writeAdamStep,
  writeSgdStep,
  type AdamConfig,
  type SGDConfig,
  type UniformImage,
} from '../kernels/optimizer.js';
import type { UpdateRule } from '../graph/update.js';

/**
 * An optimizer: an update rule with a learning rate that schedules may change between steps. The
 * rules follow torch.optim exactly, so a run continued in PyTorch behaves the same.
 */
export abstract class Optimizer implements UpdateRule {
  abstract readonly name: string;
  /** Per-parameter state buffers, named as torch.optim names them (checkpoints use these names). */
  abstract readonly stateKeys: readonly string[];
  /** The learning rate of the next step; a negative or NaN rate is refused when set. */
  abstract lr: number;
  abstract kernel(n: number, step: number, guarded?: boolean): ReturnType<UpdateRule['kernel']>;
  /** Rewrites the uniform values that change between steps (step count, learning rate) in place. */
  abstract writeUniforms(image: UniformImage, step: number): void;
}

/** torch.optim.SGD: momentum, dampening, Nesterov, L2 weight decay. */
export class SGD extends Optimizer {
  readonly name = 'sgd';
  readonly stateKeys: readonly string[];
  /** A private copy: only `lr` changes, in place, so a schedule's steps allocate nothing. */
  private readonly config: SGDConfig;

  constructor(config: SGDConfig) {
    super();
    this.config = { ...config };
    this.stateKeys = (config.momentum ?? 0) > 0 ? ['momentum_buffer'] : [];
    checkSgdConfig(this.config); // now, not at the first step
  }

  get lr(): number {
    return this.config.lr;
  }

  set lr(value: number) {
    checkLearningRate('sgd', value);
    this.config.lr = value;
  }

  kernel(n: number, step: number, guarded = false) {
    return sgdKernel(n, this.config, step, guarded);
  }

  writeUniforms(image: UniformImage, step: number): void {
    writeSgdStep(image, this.config, step);
  }
}

/** torch.optim.Adam (decoupled = false: L2 added to the gradient) and AdamW (decoupled decay). */
export class Adam extends Optimizer {
  readonly name: string;
  readonly stateKeys = ['exp_avg', 'exp_avg_sq'];
  /** A private copy: only `lr` changes, in place, so a schedule's steps allocate nothing. */
  private readonly config: AdamConfig;

  constructor(
    config: AdamConfig = {},
    private readonly decoupled = false,
  ) {
    super();
    this.name = decoupled ? 'adamw' : 'adam';
    this.config = { lr: 1e-3, ...config };
    checkAdamConfig(this.config, decoupled);
  }

  get lr(): number {
    return this.config.lr!;
  }

  set lr(value: number) {
    checkLearningRate(this.name, value);
    this.config.lr = value;
  }

  kernel(n: number, step: number, guarded = false) {
    return adamKernel(n, this.config, step, this.decoupled, guarded);
  }

  writeUniforms(image: UniformImage, step: number): void {
    writeAdamStep(image, this.config, step, this.decoupled);
  }
}

/** torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2). */
export class AdamW extends Adam {
  constructor(config: AdamConfig = {}) {
    super(config, true);
  }
}

import type { ActivationSpec } from '../../../shaders/lib/activations.js';
import type { CausalAttentionAttrs } from './causal_attention.js';
import type { PadChannelsAttrs } from './pad_channels.js';
import type { PointwiseLossAttrs } from './pointwise_loss.js';

/** Per-axis sizes (h, w). */
export type Pair2 = readonly [number, number];

/** Attributes of conv2d, as torch.nn.functional.conv2d (NCHW, weight [Cout, Cin, KH, KW]). */
export interface ConvAttrs {
  stride: Pair2;
  padding: Pair2;
  dilation: Pair2;
}

/** Attributes of conv_transpose2d (weight [Cin, Cout, KH, KW], as torch). */
export interface ConvTransposeAttrs extends ConvAttrs {
  outputPadding: Pair2;
}

/** Channel groups of conv2d: each output channel sees the input channels of its group only (depthwise: groups = channels). */
export interface Grouped {
  groups?: number;
}

export interface PoolAttrs {
  kernel: Pair2;
  stride: Pair2;
  padding: Pair2;
}

/**
 * Attributes of every op kind. Adding a key here makes the rule table in ./index.ts fail to compile
 * until the op has shape inference and a gradient rule (or is declared non-differentiable).
 */
export interface OpAttrs extends PointwiseLossAttrs {
  /** C = op(A)·op(B); A [M,K] (or [K,M] when transA), B [K,N] (or [N,K] when transB); batched with a leading dim. */
  matmul: { transA: boolean; transB: boolean };
  /** x [..., C, *spatial] + b [C], the channel at `axis` (1 for NCHW, -1 for features). */
  bias_add: { axis: number };
  activation: { activation: ActivationSpec };
  /** dx = dy ⊙ f'(saved); saved is the output, or the input where activationSaves says so (GELU, leaky_relu with a negative slope). */
  activation_backward: { activation: ActivationSpec };
  add: Record<string, never>;
  sub: Record<string, never>;
  mul: Record<string, never>;
  /** x·scale + shift, scalars. */
  scale: { scale: number; shift: number };
  /** x [..] times s [1]: scales a gradient by an upstream scalar. */
  mul_scalar: Record<string, never>;
  /**
   * Made only by the fusion passes, after autodiff: op(A)·op(B) (+ bias[N]) then `activation`, or,
   * with `prologue`, the product times prologue'(saved) — the backward dX = (dY·Wᵀ) ⊙ f'(Z).
   * Inputs: A, B, then bias if `bias`, then saved if `prologue`.
   */
  matmul_fused: {
    transA: boolean;
    transB: boolean;
    bias: boolean;
    activation: ActivationSpec;
    prologue: ActivationSpec | null;
    /** Also output the row sums of op(A) (a bias gradient Σ_batch dY next to dW = dYᵀ·X). */
    rowSum?: boolean;
  };
  /** x [N, Cin, H, W], w [Cout, Cin/groups, KH, KW] → y [N, Cout, OH, OW]; `groups` (default 1) as torch's. */
  conv2d: ConvAttrs & Grouped;
  /** Made only by fusion after autodiff: conv2d (+ bias[Cout]) then `activation`. Inputs: x, w, [bias]. */
  conv2d_fused: ConvAttrs & Grouped & { bias: boolean; activation: ActivationSpec };
  /** dy, w → dx of the conv2d whose input had `inputShape`. */
  conv2d_backward_data: ConvAttrs & Grouped & { inputShape: readonly number[] };
  /** x, dy → dW of shape `weightShape`. */
  conv2d_backward_filter: ConvAttrs & Grouped & { weightShape: readonly number[] };
  /** x [N, Cin, H, W], w [Cin, Cout, KH, KW] → y [N, Cout, OH, OW] (the adjoint of conv2d). */
  conv_transpose2d: ConvTransposeAttrs;
  conv_transpose2d_backward_data: ConvTransposeAttrs & { inputShape: readonly number[] };
  conv_transpose2d_backward_filter: ConvTransposeAttrs & { weightShape: readonly number[] };
  /** x → y and the argmax (u32, index within each plane) that backward scatters to. */
  max_pool2d: PoolAttrs & { dilation: Pair2 };
  /** dy, argmax → dx of shape `inputShape`. */
  max_pool2d_backward: PoolAttrs & { dilation: Pair2; inputShape: readonly number[] };
  avg_pool2d: PoolAttrs & { countIncludePad: boolean };
  avg_pool2d_backward: PoolAttrs & { countIncludePad: boolean; inputShape: readonly number[] };
  /** Sum over one axis, which is removed. */
  sum: { axis: number };
  /** Inserts a new axis of length `size` at `axis`, repeating the data along it (the adjoint of sum). */
  expand: { axis: number; size: number };
  /** Same data, another shape of equal size; costs no kernel. */
  reshape: { shape: readonly number[] };
  /** Identity whose gradient is zero: `detach`. */
  stop_gradient: Record<string, never>;
  /** Softmax along the last axis (torch.softmax(x, dim=-1)). */
  softmax: Record<string, never>;
  /** dy, y (the softmax output) → dx = y ⊙ (dy − Σ_row dy ⊙ y). */
  softmax_backward: Record<string, never>;
  /**
   * logits [B,C], labels [B] u32 → mean loss [1], dLogits [B,C], correct [1], invalid [1] (see the
   * rule). Rows labelled `ignoreIndex` are left out of the loss, the gradient and the mean, as
   * PyTorch's ignore_index with reduction 'mean' (no row kept: the loss is NaN). Default: none.
   */
  softmax_cross_entropy: { ignoreIndex?: number };
  /** student, teacher logits [B,C] → T²·mean KL(softmax(t/T) ‖ softmax(s/T)) [1] and dStudent [B,C] from one kernel. */
  distillation_loss: { temperature: number };
  /**
   * Train mode over [N, C] or [N, C, H, W] with batch statistics. Inputs x, [gamma, beta when
   * affine], running_mean, running_var, [num_batches_tracked when countBatches]; outputs y, saved
   * mean, saved invstd = 1/√(var + eps). The running statistics (persistent storage) are updated in
   * place: r = (1 − momentum)·r + momentum·batch, with the unbiased batch variance for running_var,
   * as PyTorch; num_batches_tracked (one f32, exact up to 2^24) is incremented.
   */
  batch_norm: { eps: number; momentum: number; affine: boolean; countBatches: boolean };
  /** Eval mode: x, running_mean, running_var, [gamma, beta] → y, normalised with the running statistics. */
  batch_norm_eval: { eps: number; affine: boolean };
  /**
   * dy, x, a, b, [gamma] → dx, [dgamma, dbeta]. `training`: a, b are the saved mean and invstd of
   * batch_norm; otherwise the running mean and variance of batch_norm_eval (constants).
   */
  batch_norm_backward: { eps: number; affine: boolean; training: boolean };
  /**
   * Train-mode dropout: y = x ⊙ mask / (1 − p). The mask is Philox(seed, stream = the step's run
   * index), so it changes every run and the backward regenerates it instead of storing it.
   */
  dropout: { p: number; seed: number };
  /** dy → dx = dy ⊙ mask / (1 − p) with the forward's mask. */
  dropout_backward: { p: number; seed: number };
  /** qkv [B, T, 3·E] → y [B, T, E], lse [B, heads, T]: fused causal self-attention (see its rule). */
  causal_attention: CausalAttentionAttrs;
  /** dy, qkv, y, lse → dqkv, recomputing the probabilities from lse. */
  causal_attention_backward: CausalAttentionAttrs;
  /** x [.., D], weight γ [D], bias β [D] → y, mean [rows], rstd [rows]: torch.nn.LayerNorm over the last axis. */
  layer_norm: { eps: number };
  /** dy, x, mean, rstd, γ → dx, dγ, dβ. */
  layer_norm_backward: Record<string, never>;
  /** indices [..] u32, weight [V, D] → y [.., D], invalid [1] (indices >= V: zero rows, counted): torch.nn.Embedding. */
  embedding: Record<string, never>;
  /** dy [.., D], indices [..] → dweight [numEmbeddings, D], summed over repeated indices in index order. */
  embedding_backward: { numEmbeddings: number };
  /** x [N, C, ...] → [N, C + before + after, ...] with zero channels (negative counts crop). */
  pad_channels: PadChannelsAttrs;
}

export type OpKind = keyof OpAttrs;

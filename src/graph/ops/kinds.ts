import type { ActivationOps } from './activation.js';
import type { BatchNormOps } from './batch_norm.js';
import type { CausalAttentionOps } from './causal_attention.js';
import type { Conv2dOps } from './conv2d.js';
import type { ConvTranspose2dOps } from './conv_transpose2d.js';
import type { DistillationLossOps } from './distillation_loss.js';
import type { DropoutOps } from './dropout.js';
import type { ElementwiseOps } from './elementwise.js';
import type { EmbeddingOps } from './embedding.js';
import type { LayerNormOps } from './layer_norm.js';
import type { MatmulOps } from './matmul.js';
import type { MatmulFusedOps } from './matmul_fused.js';
import type { PadChannelsOps } from './pad_channels.js';
import type { PointwiseLossOps } from './pointwise_loss.js';
import type { Pool2dOps } from './pool2d.js';
import type { ShapeOps } from './shape.js';
import type { SoftmaxOps } from './softmax.js';
import type { SoftmaxCrossEntropyOps } from './softmax_cross_entropy.js';

export type { Pair2 } from './rule.js';
export type { ConvAttrs, Grouped } from './conv2d.js';
export type { ConvTransposeAttrs } from './conv_transpose2d.js';
export type { PoolAttrs } from './pool2d.js';

/**
 * Attributes of every op kind: each op file declares its kinds and their attribute types next to
 * their rules, and is registered here by one line. A kind added here makes the rule table
 * (./index.ts) and the float64 reference table fail to compile until it has a rule and a reference.
 */
export interface OpAttrs
  extends ActivationOps,
    BatchNormOps,
    CausalAttentionOps,
    Conv2dOps,
    ConvTranspose2dOps,
    DistillationLossOps,
    DropoutOps,
    ElementwiseOps,
    EmbeddingOps,
    LayerNormOps,
    MatmulFusedOps,
    MatmulOps,
    PadChannelsOps,
    PointwiseLossOps,
    Pool2dOps,
    ShapeOps,
    SoftmaxCrossEntropyOps,
    SoftmaxOps {}

/** The name of a graph op (`'matmul'`, `'conv2d'`, …): a key of the attribute table. */
export type OpKind = keyof OpAttrs;

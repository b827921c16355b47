import type * as TF from '@tensorflow/tfjs';

/** He et al.'s CIFAR ResNet written with TF.js ops as its users write one (NHWC, as TF.js prefers). */
export interface TfjsResNet {
  /** Logits [batch, classes] of images [batch, 32, 32, channels], batch norm on batch statistics (training mode). */
  logits(x: TF.Tensor4D): TF.Tensor2D;
  variables: TF.Variable[];
  dispose(): void;
}

/**
 * depth = 6n + 2: a 3×3 conv, three stages of n basic blocks (width, 2·width, 4·width; the last two
 * start with stride 2), global average pool and a linear layer. Option-A shortcuts: every second
 * pixel (an average pool of window 1, stride 2) and channels zero-padded on both sides.
 * Convolutions He-normal and bias-free, as the paper's models (and ours) are.
 */
export function tfjsResnet(tf: typeof TF, s: { depth: number; width: number; classes: number; channels: number }): TfjsResNet {
  const variables: TF.Variable[] = [];
  const v = (t: TF.Tensor) => {
    const variable = tf.variable(t);
    variables.push(variable);
    return variable;
  };
  const conv = (inputs: number, outputs: number, stride: number) => ({ w: v(tf.randomNormal([3, 3, inputs, outputs], 0, Math.sqrt(2 / (9 * inputs)))), stride });
  const norm = (c: number) => ({ gamma: v(tf.ones([c])), beta: v(tf.zeros([c])) });
  const n = (s.depth - 2) / 6;
  const stem = { conv: conv(s.channels, s.width, 1), bn: norm(s.width) };
  const blocks: { c1: ReturnType<typeof conv>; b1: ReturnType<typeof norm>; c2: ReturnType<typeof conv>; b2: ReturnType<typeof norm>; from: number; to: number; stride: number }[] = [];
  for (const [stage, to] of [s.width, 2 * s.width, 4 * s.width].entries()) {
    for (let i = 0; i < n; i++) {
      const from = i === 0 ? (stage === 0 ? s.width : to / 2) : to;
      const stride = i === 0 && stage > 0 ? 2 : 1;
      blocks.push({ c1: conv(from, to, stride), b1: norm(to), c2: conv(to, to, 1), b2: norm(to), from, to, stride });
    }
  }
  const fcBound = 1 / Math.sqrt(4 * s.width);
  const fc = { w: v(tf.randomNormal([4 * s.width, s.classes], 0, Math.sqrt(2 / (4 * s.width)))), b: v(tf.randomUniform([s.classes], -fcBound, fcBound)) };

  const applyConv = (c: ReturnType<typeof conv>, x: TF.Tensor4D) => tf.conv2d(x, c.w as TF.Tensor4D, c.stride, 'same');
  const batchNorm = (b: ReturnType<typeof norm>, x: TF.Tensor4D): TF.Tensor4D => {
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    return tf.batchNorm4d(x, mean as TF.Tensor1D, variance as TF.Tensor1D, b.beta as TF.Tensor1D, b.gamma as TF.Tensor1D, 1e-5);
  };
  const shortcut = (x: TF.Tensor4D, block: (typeof blocks)[number]) => {
    if (block.stride === 1 && block.from === block.to) return x;
    const sub = block.stride === 1 ? x : tf.avgPool(x, 1, block.stride, 'valid');
    const before = Math.floor((block.to - block.from) / 2);
    return tf.pad(sub, [[0, 0], [0, 0], [0, 0], [before, block.to - block.from - before]]);
  };

  return {
    logits(x) {
      let h: TF.Tensor4D = tf.relu(batchNorm(stem.bn, applyConv(stem.conv, x)));
      for (const b of blocks) {
        const y = batchNorm(b.b2, applyConv(b.c2, tf.relu(batchNorm(b.b1, applyConv(b.c1, h)))));
        h = tf.relu(tf.add(y, shortcut(h, b))) as TF.Tensor4D;
      }
      return tf.add(tf.matMul(tf.mean(h, [1, 2]) as TF.Tensor2D, fc.w), fc.b) as TF.Tensor2D;
    },
    variables,
    dispose() {
      for (const variable of variables) variable.dispose();
    },
  };
}

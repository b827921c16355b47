import type { Graph, Value } from '../../src/graph/ir.js';
import type { ScheduledOp } from '../../src/graph/passes/schedule.js';
import { activate, erf, type RefActivation } from './activation.js';
import { channelStats, type BNShape } from './batch_norm.js';
import { causalAttentionGradRef, causalAttentionRef } from './causal_attention.js';
import { embeddingBackwardRef, embeddingOutputsRef } from './embedding.js';
import { layerNormBackwardSavedRef, layerNormRef } from './layer_norm.js';
import { padChannelsRef } from './pad_channels.js';
import { dropoutKeepRef } from './random.js';
import { avgPool, avgPoolBackward, maxPool, type RefPool } from './pool2d.js';
import { countCorrect, countInvalid, crossEntropy, crossEntropyGrad } from './softmax_cross_entropy.js';

/**
 * Float64 interpreter for graphs, written from each op's definition; tests autodiff without a GPU.
 * `run` is the compiled step's run index (dropout's mask stream). batch_norm updates the running
 * statistics it is fed IN PLACE (the arrays in `feeds`), as the GPU kernel does.
 */
export function evaluate(g: Graph, feeds: Map<Value, Float64Array>, upTo = g.nodes.length, run = 0): Map<Value, Float64Array> {
  return evaluateOps(g.nodes.slice(0, upTo), feeds, run);
}

/** Evaluates a list of ops in order (a graph's nodes or a schedule after passes). */
export function evaluateOps(ops: readonly ScheduledOp[], feeds: Map<Value, Float64Array>, run = 0): Map<Value, Float64Array> {
  const env = new Map(feeds);
  for (const node of ops) {
    const x = node.inputs.map((v) => {
      const data = env.get(v);
      if (!data) throw new Error(`no value for ${v}`);
      return data;
    });
    const [a] = node.inputs;
    const out = node.outputs[0];
    let results: Float64Array[];
    switch (node.op) {
      case 'matmul': {
        const { transA, transB } = node.attrs as { transA: boolean; transB: boolean };
        const batch = a.shape.length === 3 ? a.shape[0] : 1;
        const [M, N] = out.shape.slice(-2);
        const K = transA ? a.shape.at(-2)! : a.shape.at(-1)!;
        const A = (bt: number, m: number, k: number) => (transA ? x[0][bt * K * M + k * M + m] : x[0][bt * M * K + m * K + k]);
        const bb = (bt: number) => (node.inputs[1].shape.length === 3 ? bt : 0); // a 2-D B serves every batch
        const B = (bt: number, k: number, n: number) => (transB ? x[1][bb(bt) * N * K + n * K + k] : x[1][bb(bt) * K * N + k * N + n]);
        const c = new Float64Array(batch * M * N);
        for (let bt = 0; bt < batch; bt++)
          for (let m = 0; m < M; m++)
            for (let n = 0; n < N; n++) {
              let s = 0;
              for (let k = 0; k < K; k++) s += A(bt, m, k) * B(bt, k, n);
              c[bt * M * N + m * N + n] = s;
            }
        results = [c];
        break;
      }
      case 'matmul_fused': {
        // Defined as the composition it replaces: product, + bias, activation, or × prologue'(saved).
        const attrs = node.attrs as { transA: boolean; transB: boolean; bias: boolean; activation: { kind: RefActivation; alpha?: number }; prologue: { kind: RefActivation; alpha?: number } | null };
        const [A, B] = node.inputs;
        const tmp = (shape: readonly number[]) => ({ shape, size: shape.reduce((p, q) => p * q, 1) }) as unknown as Value;
        const product = tmp(out.shape);
        let cur = evaluateOps([{ op: 'matmul', attrs: { transA: attrs.transA, transB: attrs.transB }, inputs: [A, B], outputs: [product] }], env).get(product)!;
        if (attrs.prologue) {
          const saved = node.inputs[node.inputs.length - 1];
          const r = tmp(out.shape);
          const local = new Map(env).set(product, cur);
          cur = evaluateOps([{ op: 'activation_backward', attrs: { activation: attrs.prologue as never }, inputs: [product, saved], outputs: [r] }], local).get(r)!;
        } else {
          if (attrs.bias) {
            const r = tmp(out.shape);
            const local = new Map(env).set(product, cur);
            cur = evaluateOps([{ op: 'bias_add', attrs: { axis: -1 }, inputs: [product, node.inputs[2]], outputs: [r] }], local).get(r)!;
          }
          cur = cur.map((v) => activate(attrs.activation.kind, v, attrs.activation.alpha ?? 0.01));
        }
        results = [cur];
        if ((node.attrs as { rowSum?: boolean }).rowSum) {
          // Row sums of op(A): with A stored [K, M] and read transposed, Σ_k A[k][m].
          const [K, M] = attrs.transA ? A.shape : [A.shape[1], A.shape[0]];
          const a0 = env.get(A)!;
          const sums = new Float64Array(M);
          for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) sums[m] += attrs.transA ? a0[k * M + m] : a0[m * K + k];
          results.push(sums);
        }
        break;
      }
      case 'conv2d_fused': {
        // Defined as its composition: conv2d, + bias per channel, activation.
        const attrs = node.attrs as ConvLike & { bias: boolean; activation: { kind: RefActivation; alpha?: number } };
        let y = convOp('conv2d', attrs, node.inputs, x, out);
        if (attrs.bias) {
          const plane = out.shape[2] * out.shape[3];
          y = y.map((v, i) => v + x[2][Math.floor(i / plane) % out.shape[1]]);
        }
        results = [y.map((v) => activate(attrs.activation.kind, v, attrs.activation.alpha ?? 0.01))];
        break;
      }
      case 'bias_add': {
        const axis = ((node.attrs as { axis: number }).axis + a.shape.length) % a.shape.length;
        const after = a.shape.slice(axis + 1).reduce((p, q) => p * q, 1);
        const channels = a.shape[axis];
        results = [x[0].map((v, i) => v + x[1][Math.floor(i / after) % channels])];
        break;
      }
      case 'activation': {
        const { kind, alpha } = (node.attrs as { activation: { kind: RefActivation; alpha?: number } }).activation;
        results = [x[0].map((v) => activate(kind, v, alpha ?? 0.01))];
        break;
      }
      case 'activation_backward': {
        const { kind, alpha = 0.01 } = (node.attrs as { activation: { kind: RefActivation; alpha?: number } }).activation;
        const derivative = (s: number): number => {
          switch (kind) {
            case 'none': return 1;
            // PyTorch passes the gradient through a NaN output (threshold_backward: s <= 0 ? 0 : dy).
            case 'relu': return s <= 0 ? 0 : 1;
            case 'leaky_relu': return s > 0 ? 1 : alpha;
            case 'sigmoid': return s * (1 - s);
            case 'tanh': return 1 - s * s;
            case 'gelu': return 0.5 * (1 + erf(s / Math.SQRT2)) + (s * Math.exp(-0.5 * s * s)) / Math.sqrt(2 * Math.PI);
          }
        };
        results = [x[0].map((dy, i) => dy * derivative(x[1][i]))];
        break;
      }
      case 'add': results = [x[0].map((v, i) => v + x[1][i])]; break;
      case 'sub': results = [x[0].map((v, i) => v - x[1][i])]; break;
      case 'mul': results = [x[0].map((v, i) => v * x[1][i])]; break;
      case 'scale': {
        const { scale, shift } = node.attrs as { scale: number; shift: number };
        results = [x[0].map((v) => v * scale + shift)];
        break;
      }
      case 'mul_scalar': results = [x[0].map((v) => v * x[1][0])]; break;
      case 'reshape':
      case 'stop_gradient':
        results = [Float64Array.from(x[0])];
        break;
      case 'sum': {
        const axis = ((node.attrs as { axis: number }).axis + a.shape.length) % a.shape.length;
        const after = a.shape.slice(axis + 1).reduce((p, q) => p * q, 1);
        const len = a.shape[axis];
        const r = new Float64Array(out.size);
        x[0].forEach((v, i) => {
          const outer = Math.floor(i / (after * len));
          r[outer * after + (i % after)] += v;
        });
        results = [r];
        break;
      }
      case 'expand': {
        const { axis, size } = node.attrs as { axis: number; size: number };
        const after = out.shape.slice(axis + 1).reduce((p, q) => p * q, 1);
        results = [Float64Array.from({ length: out.size }, (_, i) => x[0][Math.floor(i / (after * size)) * after + (i % after)])];
        break;
      }
      case 'softmax': {
        // exp(x − max) / Σ exp(x − max) over each row of the last axis.
        const C = a.shape[a.shape.length - 1];
        const y = new Float64Array(x[0].length);
        for (let r = 0; r < x[0].length / C; r++) {
          const row = x[0].subarray(r * C, r * C + C);
          const max = Math.max(...row);
          const z = row.reduce((s, v) => s + Math.exp(v - max), 0);
          for (let c = 0; c < C; c++) y[r * C + c] = Math.exp(row[c] - max) / z;
        }
        results = [y];
        break;
      }
      case 'softmax_backward': {
        // dx_i = y_i (dy_i − Σ_j dy_j y_j), the softmax Jacobian applied to dy.
        const C = a.shape[a.shape.length - 1];
        const [dy, y] = x;
        const dx = new Float64Array(dy.length);
        for (let r = 0; r < dy.length / C; r++) {
          let dot = 0;
          for (let c = 0; c < C; c++) dot += dy[r * C + c] * y[r * C + c];
          for (let c = 0; c < C; c++) dx[r * C + c] = y[r * C + c] * (dy[r * C + c] - dot);
        }
        results = [dx];
        break;
      }
      case 'softmax_cross_entropy': {
        const { ignoreIndex } = node.attrs as { ignoreIndex?: number };
        const [C, logits, labels] = [a.shape[1], x[0], x[1]];
        const counts = [countCorrect(logits, labels, C, ignoreIndex), countInvalid(labels, C, ignoreIndex)];
        results = [Float64Array.of(crossEntropy(logits, labels, C, ignoreIndex)), crossEntropyGrad(logits, labels, C, ignoreIndex), ...counts.map((n) => Float64Array.of(n))];
        break;
      }
      case 'mse': {
        let s = 0;
        x[0].forEach((v, i) => (s += (v - x[1][i]) ** 2));
        results = [Float64Array.of(s / x[0].length)];
        break;
      }
      case 'mse_backward': results = [x[0].map((v, i) => (2 * (v - x[1][i])) / x[0].length)]; break;
      case 'conv2d':
      case 'conv2d_backward_data':
      case 'conv2d_backward_filter':
      case 'conv_transpose2d':
      case 'conv_transpose2d_backward_data':
      case 'conv_transpose2d_backward_filter':
        results = [convOp(node.op, node.attrs as ConvLike, node.inputs, x, out)];
        break;
      case 'max_pool2d': {
        const r = maxPool(x[0], a.shape, refPool(node.attrs as PoolLike));
        results = [r.y, Float64Array.from(r.argmax)];
        break;
      }
      case 'avg_pool2d': results = [avgPool(x[0], a.shape, refPool(node.attrs as PoolLike))]; break;
      case 'max_pool2d_backward': {
        // dy flows to the input element each window picked.
        const attrs = node.attrs as PoolLike & { inputShape: number[] };
        const [, , h, w] = attrs.inputShape;
        const dx = new Float64Array(out.size);
        const outputsPerPlane = x[0].length / (attrs.inputShape[0] * attrs.inputShape[1]);
        x[0].forEach((g, o) => (dx[Math.floor(o / outputsPerPlane) * h * w + x[1][o]] += g));
        results = [dx];
        break;
      }
      case 'avg_pool2d_backward': {
        const attrs = node.attrs as PoolLike & { inputShape: number[] };
        results = [avgPoolBackward(x[0], attrs.inputShape, refPool(attrs))];
        break;
      }
      case 'bce_with_logits': {
        let s2 = 0;
        x[0].forEach((v, i) => (s2 += Math.max(v, 0) - v * x[1][i] + Math.log1p(Math.exp(-Math.abs(v)))));
        results = [Float64Array.of(s2 / x[0].length)];
        break;
      }
      case 'bce_with_logits_backward':
        results = [x[0].map((v, i) => (1 / (1 + Math.exp(-v)) - x[1][i]) / x[0].length)];
        break;
      case 'batch_norm': {
        // Batch statistics per channel over M = N·H·W; running_var takes the unbiased variance.
        const { eps, momentum, affine, countBatches } = node.attrs as { eps: number; momentum: number; affine: boolean; countBatches: boolean };
        const s = bnShape(a.shape);
        const m = s.n * s.hw;
        const { mean, variance } = channelStats(x[0], s);
        const invstd = variance.map((v) => 1 / Math.sqrt(v + eps));
        const [gamma, beta] = affine ? [x[1], x[2]] : [undefined, undefined];
        const [rm, rv] = affine ? [x[3], x[4]] : [x[1], x[2]];
        const y = x[0].map((v, i) => {
          const c = channelOf(s, i);
          return (v - mean[c]) * invstd[c] * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
        });
        for (let c = 0; c < s.c; c++) {
          rm[c] = (1 - momentum) * rm[c] + momentum * mean[c];
          if (m > 1) rv[c] = (1 - momentum) * rv[c] + (momentum * variance[c] * m) / (m - 1);
        }
        if (countBatches) x[affine ? 5 : 3][0] += 1;
        results = [y, mean, invstd];
        break;
      }
      case 'batch_norm_eval': {
        const { eps, affine } = node.attrs as { eps: number; affine: boolean };
        const s = bnShape(a.shape);
        results = [
          x[0].map((v, i) => {
            const c = channelOf(s, i);
            return ((v - x[1][c]) / Math.sqrt(x[2][c] + eps)) * (affine ? x[3][c] : 1) + (affine ? x[4][c] : 0);
          }),
        ];
        break;
      }
      case 'batch_norm_backward': {
        // x̂ = (x − μ)·invstd. Eval: μ, invstd are constants, dx = dy·γ·invstd. Training: μ and σ²
        // depend on x, dx = γ·invstd/M·(M·dy − Σdy − x̂·Σdy·x̂). Both: dγ = Σ dy·x̂, dβ = Σ dy.
        const { eps, affine, training } = node.attrs as { eps: number; affine: boolean; training: boolean };
        const [dy, xs, p, q] = x;
        const s = bnShape(node.inputs[1].shape);
        const m = s.n * s.hw;
        const mu = p;
        const invstd = training ? q : q.map((v) => 1 / Math.sqrt(v + eps));
        const gamma = (c: number) => (affine ? x[4][c] : 1);
        const xhat = (i: number) => (xs[i] - mu[channelOf(s, i)]) * invstd[channelOf(s, i)];
        const dgamma = new Float64Array(s.c);
        const dbeta = new Float64Array(s.c);
        dy.forEach((d, i) => {
          dgamma[channelOf(s, i)] += d * xhat(i);
          dbeta[channelOf(s, i)] += d;
        });
        const dx = dy.map((d, i) => {
          const c = channelOf(s, i);
          return training ? ((gamma(c) * invstd[c]) / m) * (m * d - dbeta[c] - xhat(i) * dgamma[c]) : d * gamma(c) * invstd[c];
        });
        results = affine ? [dx, dgamma, dbeta] : [dx];
        break;
      }
      case 'dropout':
      case 'dropout_backward': {
        // y = x ⊙ keep / (1 − p), keep drawn from Philox(seed, stream = run); p = 1 gives zeros.
        const { p, seed } = node.attrs as { p: number; seed: number };
        const keep = dropoutKeepRef(x[0].length, p, seed, run);
        results = [x[0].map((v, i) => (keep[i] && p < 1 ? v / (1 - p) : 0))];
        break;
      }
      case 'causal_attention':
      case 'causal_attention_backward': {
        // The float64 attention through full T×T matrices; the backward's inputs are dy, qkv, y, lse.
        const { heads, scale } = node.attrs as { heads: number; scale: number };
        const forward = node.op === 'causal_attention';
        const [batch, tokens, features] = (forward ? a : node.inputs[1]).shape;
        const s = { batch, tokens, heads, headDim: features / (3 * heads) };
        results = forward ? Object.values(causalAttentionRef(x[0], s, scale)) : [causalAttentionGradRef(x[1], x[0], s, scale)];
        break;
      }
      case 'layer_norm': results = Object.values(layerNormRef(x[0], a.shape[a.shape.length - 1], (node.attrs as { eps: number }).eps, x[1], x[2])); break;
      case 'layer_norm_backward': results = layerNormBackwardSavedRef(x[0], x[1], x[2], x[3], x[4]); break;
      case 'embedding': results = embeddingOutputsRef(x[0], x[1], node.inputs[1].shape[1]); break;
      case 'embedding_backward': results = [embeddingBackwardRef(x[0], x[1], (node.attrs as { numEmbeddings: number }).numEmbeddings, a.shape[a.shape.length - 1])]; break;
      case 'pad_channels': results = [padChannelsRef(x[0], a.shape, (node.attrs as { before: number }).before, (node.attrs as { after: number }).after)]; break;
      default:
        throw new Error(`reference interpreter: no rule for ${node.op}`);
    }
    node.outputs.forEach((v, i) => env.set(v, results[i]));
  }
  return env;
}

/** [N, C] or [N, C, H, W] as (N, C, H·W). */
function bnShape(shape: readonly number[]): BNShape {
  return { n: shape[0], c: shape[1], hw: shape.length === 4 ? shape[2] * shape[3] : 1 };
}

const channelOf = (s: BNShape, i: number) => Math.floor(i / s.hw) % s.c;

type Pair = readonly [number, number];
interface ConvLike {
  stride: Pair;
  padding: Pair;
  dilation: Pair;
  outputPadding?: Pair;
  inputShape?: readonly number[];
  weightShape?: readonly number[];
}
interface PoolLike {
  kernel: Pair;
  stride: Pair;
  padding: Pair;
  dilation?: Pair;
  countIncludePad?: boolean;
}

/**
 * Visits every (input element, weight element, output element) triple of conv2d with input
 * `xs` [N, Cin, H, W] and weight `ws` [Cout, Cin/groups, KH, KW] producing `ys`: y += x·w for each.
 * Forward, both gradients and the transposed conv are this one loop read in different directions.
 */
function convVisit(xs: readonly number[], ws: readonly number[], ys: readonly number[], a: ConvLike, fn: (xi: number, wi: number, yi: number) => void): void {
  const [n, cin, h, w] = xs;
  // Grouped weights are [Cout, Cin/groups, KH, KW]: output channel co sees the inputs of its group.
  const [[cout, perGroup, kh, kw], [, , oh, ow]] = [ws, ys];
  const outPerGroup = cout / (cin / perGroup);
  for (let b = 0; b < n; b++)
    for (let co = 0; co < cout; co++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++)
          for (let cl = 0; cl < perGroup; cl++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const ci = Math.floor(co / outPerGroup) * perGroup + cl;
                const iy = oy * a.stride[0] - a.padding[0] + i * a.dilation[0];
                const ix = ox * a.stride[1] - a.padding[1] + j * a.dilation[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                fn(((b * cin + ci) * h + iy) * w + ix, ((co * perGroup + cl) * kh + i) * kw + j, ((b * cout + co) * oh + oy) * ow + ox);
              }
}

function convOp(op: string, a: ConvLike, inputs: readonly Value[], x: Float64Array[], out: Value): Float64Array {
  const r = new Float64Array(out.size);
  const [p, q] = inputs;
  // conv_transpose2d(x, w) is the input-gradient of the conv2d from its output (shape of y) to x.
  switch (op) {
    case 'conv2d':
      convVisit(p.shape, q.shape, out.shape, a, (xi, wi, yi) => (r[yi] += x[0][xi] * x[1][wi]));
      break;
    case 'conv2d_backward_data':
      convVisit(a.inputShape!, q.shape, p.shape, a, (xi, wi, yi) => (r[xi] += x[0][yi] * x[1][wi]));
      break;
    case 'conv2d_backward_filter':
      convVisit(p.shape, a.weightShape!, q.shape, a, (xi, wi, yi) => (r[wi] += x[0][xi] * x[1][yi]));
      break;
    case 'conv_transpose2d':
      convVisit(out.shape, q.shape, p.shape, a, (xi, wi, yi) => (r[xi] += x[0][yi] * x[1][wi]));
      break;
    case 'conv_transpose2d_backward_data':
      convVisit(p.shape, q.shape, a.inputShape!, a, (xi, wi, yi) => (r[yi] += x[0][xi] * x[1][wi]));
      break;
    case 'conv_transpose2d_backward_filter':
      convVisit(q.shape, a.weightShape!, p.shape, a, (xi, wi, yi) => (r[wi] += x[1][xi] * x[0][yi]));
      break;
  }
  return r;
}

/** The attributes of a pooling op as the float64 reference takes them. */
function refPool(a: PoolLike): RefPool {
  const pair = (p: Pair): [number, number] => [p[0], p[1]];
  const dilation = a.dilation ? pair(a.dilation) : ([1, 1] as [number, number]);
  return { kernel: pair(a.kernel), stride: pair(a.stride), padding: pair(a.padding), dilation, countIncludePad: a.countIncludePad ?? true };
}

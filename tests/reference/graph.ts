import type { Graph, Value } from '../../src/graph/ir.js';
import type { ScheduledOp } from '../../src/graph/passes/schedule.js';
import { activate, erf, type RefActivation } from './activation.js';

/** Float64 interpreter for graphs, written from each op's definition; tests autodiff without a GPU. */
export function evaluate(g: Graph, feeds: Map<Value, Float64Array>, upTo = g.nodes.length): Map<Value, Float64Array> {
  return evaluateOps(g.nodes.slice(0, upTo), feeds);
}

/** Evaluates a list of ops in order (a graph's nodes or a schedule after passes). */
export function evaluateOps(ops: readonly ScheduledOp[], feeds: Map<Value, Float64Array>): Map<Value, Float64Array> {
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
        const B = (bt: number, k: number, n: number) => (transB ? x[1][bt * N * K + n * K + k] : x[1][bt * K * N + k * N + n]);
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
            case 'relu': return s > 0 ? 1 : 0;
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
      case 'softmax_cross_entropy': {
        const [B, C] = a.shape;
        let loss = 0;
        let correct = 0;
        const d = new Float64Array(B * C);
        for (let r = 0; r < B; r++) {
          const row = x[0].subarray(r * C, r * C + C);
          const max = Math.max(...row);
          const z = row.reduce((s, v) => s + Math.exp(v - max), 0);
          const label = x[1][r];
          loss += -(row[label] - max - Math.log(z));
          if (row.indexOf(max) === label) correct++;
          for (let c = 0; c < C; c++) d[r * C + c] = (Math.exp(row[c] - max) / z - (c === label ? 1 : 0)) / B;
        }
        results = [Float64Array.of(loss / B), d, Float64Array.of(correct)];
        break;
      }
      case 'mse': {
        let s = 0;
        x[0].forEach((v, i) => (s += (v - x[1][i]) ** 2));
        results = [Float64Array.of(s / x[0].length)];
        break;
      }
      case 'mse_backward': results = [x[0].map((v, i) => (2 * (v - x[1][i])) / x[0].length)]; break;
      default:
        throw new Error(`reference interpreter: no rule for ${node.op}`);
    }
    node.outputs.forEach((v, i) => env.set(v, results[i]));
  }
  return env;
}

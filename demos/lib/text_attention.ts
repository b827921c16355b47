import { ShapeError } from '../../src/gpu/errors.js';
/*
 * A float64 forward pass of the character transformer on the CPU, for display. The GPU's fused
 * causal-attention kernel never holds the T×T matrix of attention weights (it keeps a running
 * softmax over key tiles), so the pattern the Text page draws is recomputed here from the model's
 * weights: token + position embeddings, then per block LayerNorm → qkv Linear → per-head
 * softmax(q·kᵀ/√d) with the causal mask (the pattern) → proj, plus the GELU MLP, then ln_f and
 * lm_head. Its logits are compared with the GPU's to show the pattern is the trained model's.
 */

/** The architecture fields the forward pass needs (a TransformerConfig). */
export interface AttentionModelConfig {
  vocab: number;
  context: number;
  layers: number;
  heads: number;
  dim: number;
}

/** What the CPU forward gives for a prompt of T tokens. */
export interface CpuForward {
  /** Logits [T, vocab]. */
  logits: Float64Array;
  /** patterns[layer][head]: attention weights [T, T], row = query position, zero above the diagonal. */
  patterns: Float64Array[][];
}

type Weights = ReadonlyMap<string, ArrayLike<number>>;

function need(w: Weights, name: string): ArrayLike<number> {
  const v = w.get(name);
  if (!v) throw new ShapeError(`attention view: the weights have no '${name}'`);
  return v;
}

/** y[t, o] = Σ_i x[t, i]·W[o, i] + b[o] (torch.nn.Linear layout: W is [out, in]). */
function linear(x: Float64Array, rows: number, inF: number, W: ArrayLike<number>, b: ArrayLike<number> | undefined, outF: number): Float64Array {
  const y = new Float64Array(rows * outF);
  for (let t = 0; t < rows; t++) {
    for (let o = 0; o < outF; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inF; i++) s += x[t * inF + i] * W[o * inF + i];
      y[t * outF + o] = s;
    }
  }
  return y;
}

function layerNorm(x: Float64Array, rows: number, dim: number, gamma: ArrayLike<number>, beta: ArrayLike<number>, eps = 1e-5): Float64Array {
  const y = new Float64Array(x.length);
  for (let t = 0; t < rows; t++) {
    let mean = 0;
    for (let i = 0; i < dim; i++) mean += x[t * dim + i];
    mean /= dim;
    let v = 0;
    for (let i = 0; i < dim; i++) v += (x[t * dim + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / dim + eps);
    for (let i = 0; i < dim; i++) y[t * dim + i] = (x[t * dim + i] - mean) * inv * gamma[i] + beta[i];
  }
  return y;
}

/** erf by Abramowitz–Stegun 7.1.26 (error ≤ 1.5e-7): far below what the display or the f32 comparison can see. */
function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return sign * (1 - poly * Math.exp(-a * a));
}

const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

/**
 * Runs the model on `tokens` (T ≤ context) in float64 from `weights` (the checkpoint's names:
 * `transformer.wte.weight`, `transformer.h.{i}.attn.qkv.weight`, …, `lm_head.weight`).
 */
export function cpuForward(weights: Weights, config: AttentionModelConfig, tokens: readonly number[]): CpuForward {
  const { dim, heads, layers, vocab, context } = config;
  const T = tokens.length;
  if (T < 1 || T > context) throw new ShapeError(`attention view: the prompt has ${T} characters; give 1 to ${context}`);
  const wte = need(weights, 'transformer.wte.weight');
  const wpe = need(weights, 'transformer.wpe.weight');
  let h: Float64Array = new Float64Array(T * dim);
  for (let t = 0; t < T; t++) {
    if (tokens[t] >= vocab) throw new ShapeError(`attention view: token ${tokens[t]} is outside the vocabulary of ${vocab}`);
    for (let i = 0; i < dim; i++) h[t * dim + i] = wte[tokens[t] * dim + i] + wpe[t * dim + i];
  }
  const hd = dim / heads;
  const scale = 1 / Math.sqrt(hd);
  const patterns: Float64Array[][] = [];
  for (let l = 0; l < layers; l++) {
    const p = (name: string) => need(weights, `transformer.h.${l}.${name}`);
    const a = layerNorm(h, T, dim, p('ln_1.weight'), p('ln_1.bias'));
    const qkv = linear(a, T, dim, p('attn.qkv.weight'), p('attn.qkv.bias'), 3 * dim);
    const y = new Float64Array(T * dim);
    const layerPatterns: Float64Array[] = [];
    for (let hh = 0; hh < heads; hh++) {
      const att = new Float64Array(T * T);
      const q = (t: number, i: number) => qkv[t * 3 * dim + hh * hd + i];
      const k = (t: number, i: number) => qkv[t * 3 * dim + dim + hh * hd + i];
      const v = (t: number, i: number) => qkv[t * 3 * dim + 2 * dim + hh * hd + i];
      for (let t = 0; t < T; t++) {
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += q(t, i) * k(s, i);
          att[t * T + s] = dot * scale;
          max = Math.max(max, dot * scale);
        }
        let total = 0;
        for (let s = 0; s <= t; s++) total += att[t * T + s] = Math.exp(att[t * T + s] - max);
        for (let s = 0; s <= t; s++) att[t * T + s] /= total;
        for (let i = 0; i < hd; i++) {
          let sum = 0;
          for (let s = 0; s <= t; s++) sum += att[t * T + s] * v(s, i);
          y[t * dim + hh * hd + i] = sum;
        }
      }
      layerPatterns.push(att);
    }
    patterns.push(layerPatterns);
    const attnOut = linear(y, T, dim, p('attn.proj.weight'), p('attn.proj.bias'), dim);
    for (let i = 0; i < h.length; i++) h[i] += attnOut[i];
    const m = layerNorm(h, T, dim, p('ln_2.weight'), p('ln_2.bias'));
    const fc = linear(m, T, dim, p('mlp.fc.weight'), p('mlp.fc.bias'), 4 * dim).map(gelu);
    const mlpOut = linear(fc, T, 4 * dim, p('mlp.proj.weight'), p('mlp.proj.bias'), dim);
    for (let i = 0; i < h.length; i++) h[i] += mlpOut[i];
  }
  h = layerNorm(h, T, dim, need(weights, 'transformer.ln_f.weight'), need(weights, 'transformer.ln_f.bias'));
  return { logits: linear(h, T, dim, need(weights, 'lm_head.weight'), undefined, vocab), patterns };
}

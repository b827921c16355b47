import type { RefOp } from './ref_op.js';
/**
 * Float64 causal self-attention from its definition, materialising the whole T×T matrix per head:
 * P = softmax(Q·Kᵀ·scale + M) with M_ij = −∞ for j > i, Y = P·V. The input is the packed qkv
 * [B, T, 3·E] (E = heads·Dh) of a fused Linear, split as torch's
 * `qkv.split(E, -1)` then `view(B, T, heads, Dh).transpose(1, 2)`; Y is [B, T, E].
 */
export interface RefAttentionShape {
  batch: number;
  tokens: number;
  heads: number;
  headDim: number;
}

/** q, k or v (part 0, 1, 2) of batch b, head h as a T×Dh matrix (row-major). */
function part(qkv: ArrayLike<number>, s: RefAttentionShape, b: number, h: number, which: number): Float64Array {
  const E = s.heads * s.headDim;
  const m = new Float64Array(s.tokens * s.headDim);
  for (let t = 0; t < s.tokens; t++)
    for (let d = 0; d < s.headDim; d++) m[t * s.headDim + d] = qkv[(b * s.tokens + t) * 3 * E + which * E + h * s.headDim + d];
  return m;
}

/** P [T, T] of one head: masked entries are exactly 0. Also each row's log Σ exp of the kept scores. */
function probabilities(q: Float64Array, k: Float64Array, s: RefAttentionShape, scale: number): { p: Float64Array; lse: Float64Array } {
  const T = s.tokens;
  const scores = new Float64Array(T * T).fill(-Infinity);
  for (let i = 0; i < T; i++)
    for (let j = 0; j <= i; j++) {
      let dot = 0;
      for (let d = 0; d < s.headDim; d++) dot += q[i * s.headDim + d] * k[j * s.headDim + d];
      scores[i * T + j] = dot * scale;
    }
  const p = new Float64Array(T * T);
  const lse = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    const row = scores.subarray(i * T, i * T + T);
    const max = Math.max(...row);
    let z = 0;
    for (let j = 0; j < T; j++) z += Math.exp(row[j] - max);
    for (let j = 0; j < T; j++) p[i * T + j] = Math.exp(row[j] - max) / z;
    lse[i] = max + Math.log(z);
  }
  return { p, lse };
}

/** y [B, T, E] and the per-row logsumexp of the masked, scaled scores, lse [B, heads, T]. */
export function causalAttentionRef(qkv: ArrayLike<number>, s: RefAttentionShape, scale: number): { y: Float64Array; lse: Float64Array } {
  const { tokens: T, headDim: Dh } = s;
  const E = s.heads * Dh;
  const y = new Float64Array(s.batch * T * E);
  const lse = new Float64Array(s.batch * s.heads * T);
  for (let b = 0; b < s.batch; b++)
    for (let h = 0; h < s.heads; h++) {
      const v = part(qkv, s, b, h, 2);
      const { p, lse: rowLse } = probabilities(part(qkv, s, b, h, 0), part(qkv, s, b, h, 1), s, scale);
      lse.set(rowLse, (b * s.heads + h) * T);
      for (let i = 0; i < T; i++)
        for (let d = 0; d < Dh; d++) {
          let acc = 0;
          for (let j = 0; j < T; j++) acc += p[i * T + j] * v[j * Dh + d];
          y[(b * T + i) * E + h * Dh + d] = acc;
        }
    }
  return { y, lse };
}

/**
 * dqkv [B, T, 3·E] for the upstream gradient dy [B, T, E], by the chain rule through the full
 * matrices: dV = Pᵀ·dY, dP = dY·Vᵀ, dS = the softmax Jacobian applied to each row of dP
 * (P_ij·(dP_ij − Σ_k P_ik·dP_ik)), dQ = dS·K·scale, dK = dSᵀ·Q·scale.
 */
export function causalAttentionGradRef(qkv: ArrayLike<number>, dy: ArrayLike<number>, s: RefAttentionShape, scale: number): Float64Array {
  const { tokens: T, headDim: Dh } = s;
  const E = s.heads * Dh;
  const dqkv = new Float64Array(s.batch * T * 3 * E);
  for (let b = 0; b < s.batch; b++)
    for (let h = 0; h < s.heads; h++) {
      const [q, k, v] = [0, 1, 2].map((w) => part(qkv, s, b, h, w));
      const { p } = probabilities(q, k, s, scale);
      const g = (i: number, d: number) => dy[(b * T + i) * E + h * Dh + d];
      const dp = new Float64Array(T * T);
      for (let i = 0; i < T; i++)
        for (let j = 0; j < T; j++) for (let d = 0; d < Dh; d++) dp[i * T + j] += g(i, d) * v[j * Dh + d];
      const ds = new Float64Array(T * T);
      for (let i = 0; i < T; i++) {
        let inner = 0;
        for (let j = 0; j < T; j++) inner += p[i * T + j] * dp[i * T + j];
        for (let j = 0; j < T; j++) ds[i * T + j] = p[i * T + j] * (dp[i * T + j] - inner);
      }
      const at = (t: number, which: number, d: number) => (b * T + t) * 3 * E + which * E + h * Dh + d;
      for (let t = 0; t < T; t++)
        for (let d = 0; d < Dh; d++) {
          let [dq, dk, dv] = [0, 0, 0];
          for (let u = 0; u < T; u++) {
            dq += ds[t * T + u] * k[u * Dh + d];
            dk += ds[u * T + t] * q[u * Dh + d];
            dv += p[u * T + t] * g(u, d);
          }
          dqkv[at(t, 0, d)] = dq * scale;
          dqkv[at(t, 1, d)] = dk * scale;
          dqkv[at(t, 2, d)] = dv;
        }
    }
  return dqkv;
}

const shapeOf = ([batch, tokens, features]: readonly number[], heads: number): RefAttentionShape => ({ batch, tokens, heads, headDim: features / (3 * heads) });

/** Through full T×T matrices, unlike the kernel; outputs y and lse. */
export const causalAttentionOpRef: RefOp<'causal_attention'> = ([qkv], { attrs: { heads, scale }, inputs: [qkvV] }) => {
  const { y, lse } = causalAttentionRef(qkv, shapeOf(qkvV.shape, heads), scale);
  return [y, lse];
};

/** Inputs dy, qkv, y, lse; the float64 gradient recomputes everything from qkv. */
export const causalAttentionBackwardOpRef: RefOp<'causal_attention_backward'> = ([dy, qkv], { attrs: { heads, scale }, inputs: [, qkvV] }) => [
  causalAttentionGradRef(qkv, dy, shapeOf(qkvV.shape, heads), scale),
];

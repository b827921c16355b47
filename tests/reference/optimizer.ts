/**
 * Float64 optimizers written from the algorithm boxes in PyTorch's documentation of torch.optim.SGD,
 * Adam and AdamW (maximize = False, amsgrad = False), one step at a time with explicit state.
 */

export interface SGDRefConfig {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
}

/** θ, b updated in place for step t (t = 1 is the first step). */
export function sgdRefStep(theta: Float64Array, grad: ArrayLike<number>, b: Float64Array, c: SGDRefConfig, t: number): void {
  for (let i = 0; i < theta.length; i++) {
    let g = grad[i];
    if (c.weightDecay !== 0) g += c.weightDecay * theta[i];
    if (c.momentum !== 0) {
      b[i] = t > 1 ? c.momentum * b[i] + (1 - c.dampening) * g : g;
      g = c.nesterov ? g + c.momentum * b[i] : b[i];
    }
    theta[i] -= c.lr * g;
  }
}

export interface AdamRefConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** Adam (L2 weight decay into the gradient) or AdamW (decoupled: θ ← θ − γλθ first), step t. */
export function adamRefStep(
  theta: Float64Array,
  grad: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  c: AdamRefConfig,
  t: number,
  decoupled: boolean,
): void {
  for (let i = 0; i < theta.length; i++) {
    let g = grad[i];
    if (decoupled) theta[i] -= c.lr * c.weightDecay * theta[i];
    else if (c.weightDecay !== 0) g += c.weightDecay * theta[i];
    m[i] = c.beta1 * m[i] + (1 - c.beta1) * g;
    v[i] = c.beta2 * v[i] + (1 - c.beta2) * g * g;
    const mHat = m[i] / (1 - c.beta1 ** t);
    const vHat = v[i] / (1 - c.beta2 ** t);
    theta[i] -= (c.lr * mHat) / (Math.sqrt(vHat) + c.eps);
  }
}

/** clip_grad_norm_: returns the norm; scales g in place by min(1, maxNorm / (norm + 1e-6)). */
export function clipGradNormRef(g: Float64Array, maxNorm: number): number {
  let s = 0;
  for (const v of g) s += v * v;
  const norm = Math.sqrt(s);
  const coef = Math.min(1, maxNorm / (norm + 1e-6));
  for (let i = 0; i < g.length; i++) g[i] *= coef;
  return norm;
}

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

/** Pointwise nonlinearities that kernels can apply or differentiate in place. */
export const ACTIVATIONS = ['none', 'relu', 'leaky_relu', 'sigmoid', 'tanh', 'gelu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export interface ActivationSpec {
  kind: Activation;
  /** Negative slope of leaky_relu (PyTorch's default 0.01). */
  alpha?: number;
}

/**
 * What the forward pass keeps for the derivative. Output-saving activations let backward reuse the
 * forward result (no extra buffer); GELU's derivative needs its input.
 */
export function activationSaves(kind: Activation): 'output' | 'input' {
  return kind === 'gelu' ? 'input' : 'output';
}

/** Override constants an activation's WGSL declares (leaky_relu's slope), for KernelSpec.constants. */
export function activationConstants(a: ActivationSpec): Record<string, number> {
  return a.kind === 'leaky_relu' ? { leaky_alpha: a.alpha ?? 0.01 } : {};
}

/**
 * WGSL defining `activate(x)` and `activate_grad(s)` = f'(z) where s is what `activationSaves` says
 * the forward pass kept.
 */
export function activationWGSL(kind: Activation): string {
  return wgsl`
#if ${kind === 'leaky_relu'}
override leaky_alpha: f32 = 0.01;
#endif
#if ${kind === 'gelu'}
// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): WGSL has no erf, and PyTorch's GELU is the erf form.
fn erf_approx(x: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-x * x));
}
#endif

fn activate(x: f32) -> f32 {
#if ${kind === 'none'}
  return x;
#elif ${kind === 'relu'}
  return max(x, 0.0);
#elif ${kind === 'leaky_relu'}
  return select(leaky_alpha * x, x, x > 0.0);
#elif ${kind === 'sigmoid'}
  return 1.0 / (1.0 + exp(-x));
#elif ${kind === 'tanh'}
  // Clamped: some backends compute tanh from exp and return NaN for large |x|.
  return tanh(clamp(x, -15.0, 15.0));
#elif ${kind === 'gelu'}
  return 0.5 * x * (1.0 + erf_approx(x * 0.7071067811865476));
#endif
}

fn activate_grad(s: f32) -> f32 {
#if ${kind === 'none'}
  return 1.0;
#elif ${kind === 'relu'}
  // s = relu(z): z > 0 exactly when s > 0 (the subgradient at 0 is taken as 0, as PyTorch does).
  return select(0.0, 1.0, s > 0.0);
#elif ${kind === 'leaky_relu'}
  return select(leaky_alpha, 1.0, s > 0.0);
#elif ${kind === 'sigmoid'}
  // s = sigmoid(z): d/dz = s (1 - s)
  return s * (1.0 - s);
#elif ${kind === 'tanh'}
  // s = tanh(z): d/dz = 1 - s^2
  return 1.0 - s * s;
#elif ${kind === 'gelu'}
  // s = z: d/dz [z Phi(z)] = Phi(z) + z phi(z)
  let cdf = 0.5 * (1.0 + erf_approx(s * 0.7071067811865476));
  let pdf = 0.3989422804014327 * exp(-0.5 * s * s);
  return cdf + s * pdf;
#endif
}
`;
}

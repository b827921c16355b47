import { isNanWGSL } from './nan.js';

/** Pointwise nonlinearities that kernels can apply or differentiate in place. */
export const ACTIVATIONS = ['none', 'relu', 'leaky_relu', 'sigmoid', 'tanh', 'gelu'] as const;
/** The name of an activation kernels can fuse: 'none', 'relu', 'leaky_relu', 'sigmoid', 'tanh' or 'gelu'. */
export type Activation = (typeof ACTIVATIONS)[number];

/** An activation and its parameter, as kernels take it. */
export interface ActivationSpec {
  kind: Activation;
  /** Negative slope of leaky_relu (PyTorch's default 0.01). */
  alpha?: number;
}

/**
 * What the forward pass keeps for the derivative. Output-saving activations let backward reuse the
 * forward result (no extra buffer). GELU's derivative needs its input, and so does leaky_relu with
 * a negative slope: its output is positive on both sides of zero, so the output cannot tell which
 * slope applies. With a slope >= 0 the output has the input's sign (a slope of 0 maps negatives to
 * ±0, whose derivative is that 0 slope anyway).
 */
export function activationSaves(a: ActivationSpec): 'output' | 'input' {
  if (a.kind === 'gelu') return 'input';
  if (a.kind === 'leaky_relu' && leakyAlpha(a) < 0) return 'input';
  return 'output';
}

/** leaky_relu's slope, PyTorch's default 0.01 when not given. */
export function leakyAlpha(a: ActivationSpec): number {
  return a.alpha ?? 0.01;
}

/** Override constants an activation's WGSL declares (leaky_relu's slope), for KernelSpec.constants. */
export function activationConstants(a: ActivationSpec): Record<string, number> {
  return a.kind === 'leaky_relu' ? { leaky_alpha: leakyAlpha(a) } : {};
}

/** The WGSL of one activation: bodies of `activate(x)` and `activate_grad(s)`, and what they need. */
interface ActivationCode {
  helpers?: string;
  activate: string;
  grad: string;
}

// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): WGSL has no erf, and PyTorch's GELU is the erf form.
const ERF_APPROX = /* wgsl */ `
fn erf_approx(x: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-x * x));
}
`;

/**
 * Every activation kind's WGSL, keyed by kind: a kind added to ACTIVATIONS without its code here
 * fails `tsc`. `activate_grad(s)` = f'(z) where s is what `activationSaves` says the forward kept.
 * NaN propagates as in PyTorch: f(NaN) = NaN for every kind (comparisons, max and clamp would turn
 * it into a number, hence the explicit `is_nan`); relu's gradient at a NaN output is 1 (PyTorch's
 * threshold_backward passes it through), leaky_relu's is the slope.
 */
export const ACTIVATION_WGSL: { readonly [K in Activation]: ActivationCode } = {
  none: { activate: 'return x;', grad: 'return 1.0;' },
  relu: {
    activate: 'return select(max(x, 0.0), x, is_nan(x));',
    // s = relu(z): z > 0 exactly when s > 0 (the subgradient at 0 is taken as 0, as PyTorch does).
    grad: 'return select(select(0.0, 1.0, s > 0.0), 1.0, is_nan(s));',
  },
  leaky_relu: {
    helpers: 'override leaky_alpha: f32 = 0.01;',
    // A zero slope times -inf is NaN in PyTorch (IEEE 0 · inf); a compiler may fold 0 · x to 0.
    activate: `let negative = select(leaky_alpha * x, nan_f32(), leaky_alpha == 0.0 && is_inf(x));
  return select(select(negative, x, x > 0.0), x, is_nan(x));`,
    // s = z when the slope is negative, else s = leaky_relu(z), which has z's sign (activationSaves).
    grad: 'return select(leaky_alpha, 1.0, s > 0.0 && !is_nan(s));',
  },
  sigmoid: {
    // exp(-x) overflows to +inf for x < -88, giving 0 as the limit does.
    activate: 'return select(1.0 / (1.0 + exp(-x)), x, is_nan(x));',
    // s = sigmoid(z): d/dz = s (1 - s)
    grad: 'return s * (1.0 - s);',
  },
  tanh: {
    // Clamped (tanh(±15) is ±1 in f32): some backends compute tanh from exp and return NaN for large |x|.
    activate: 'return select(tanh(clamp(x, -15.0, 15.0)), x, is_nan(x));',
    // s = tanh(z): d/dz = 1 - s^2
    grad: 'return 1.0 - s * s;',
  },
  gelu: {
    helpers: ERF_APPROX,
    // gelu(-inf) = -inf * 0 = NaN, as in PyTorch.
    activate: 'return select(0.5 * x * (1.0 + erf_approx(x * 0.7071067811865476)), x, is_nan(x));',
    // s = z: d/dz [z Phi(z)] = Phi(z) + z phi(z)
    grad: `let cdf = 0.5 * (1.0 + erf_approx(s * 0.7071067811865476));
  let pdf = 0.3989422804014327 * exp(-0.5 * s * s);
  return select(cdf + s * pdf, s, is_nan(s));`,
  },
};

/** WGSL defining `activate(x)` and `activate_grad(s)` for `kind` (see ACTIVATION_WGSL). */
export function activationWGSL(kind: Activation): string {
  const code = ACTIVATION_WGSL[kind];
  return /* wgsl */ `
${isNanWGSL}
${code.helpers ?? ''}
fn activate(x: f32) -> f32 {
  ${code.activate}
}

fn activate_grad(s: f32) -> f32 {
  ${code.grad}
}
`;
}

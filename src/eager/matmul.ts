import type { ActivationSpec } from '../../shaders/lib/activations.js';
import { ShapeError } from '../gpu/errors.js';
import { MATMUL_CONFIGS, matmulCandidates, matmulConfig, matmulProgram, matmulShapeClass, matmulTuneCandidate, type MatmulParams } from '../kernels/matmul.js';
import { forcedProgram } from './forced_config.js';
import { launch, runOp, type Tensor } from './tensor.js';

/** Options of the eager `matmul`: transposed operands, a fused bias and activation. */
export interface MatmulOptions {
  /** Read A as its transpose: A is stored [K, M] (or [batch, K, M]). */
  transA?: boolean;
  /** Read B as its transpose: B is stored [N, K] (or [batch, N, K]). */
  transB?: boolean;
  /** A length-N vector added to every row of the product. */
  bias?: Tensor;
  /** Applied to (product + bias). */
  activation?: ActivationSpec;
  /**
   * Backward through an activation: the result is (op(A)·op(B)) ⊙ activate_grad(saved), `saved`
   * being what the forward pass kept (its output, or its input for GELU), shaped like the result.
   */
  prologue?: { activation: ActivationSpec; saved: Tensor };
  /**
   * Force a configuration id (see MATMUL_CONFIGS) instead of asking the autotuner. One this device
   * cannot run (a subgroup kernel without the `subgroups` feature, a workgroup over its limits)
   * raises a KernelConfigError at the call.
   */
  config?: string;
}

function dims(t: Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

/** Resolves tensor shapes into kernel parameters, or throws a ShapeError naming the fix. */
export function matmulParams(a: Tensor, b: Tensor, o: MatmulOptions = {}): MatmulParams {
  const transA = !!o.transA;
  const transB = !!o.transB;
  for (const [name, t] of [['A', a], ['B', b]] as const) {
    if (t.shape.length !== 2 && t.shape.length !== 3) {
      throw new ShapeError(`matmul: ${name} ${dims(t)} must be 2-D [rows, cols] or 3-D [batch, rows, cols]`);
    }
    if (t.dtype !== 'f32') throw new ShapeError(`matmul: ${name} ${dims(t)} is ${t.dtype}; matmul takes f32`);
  }
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar;
  const KA = transA ? ar : ac;
  const KB = transB ? bc : br;
  const N = transB ? br : bc;
  if (KA !== KB) {
    const fix = transB ? 'transpose B differently or fix its shape' : 'transpose B or fix its shape';
    throw new ShapeError(`matmul: A ${dims(a)}${transA ? 'ᵀ' : ''} and B ${dims(b)}${transB ? 'ᵀ' : ''}: inner dimensions ${KA} and ${KB} differ; ${fix}`);
  }
  const batchA = a.shape.length === 3 ? a.shape[0] : 1;
  const batchB = b.shape.length === 3 ? b.shape[0] : 1;
  if (a.shape.length === 3 && b.shape.length === 3 && batchA !== batchB) {
    throw new ShapeError(`matmul: A ${dims(a)} and B ${dims(b)}: batch sizes ${batchA} and ${batchB} differ`);
  }
  const batch = Math.max(batchA, batchB);
  const params: MatmulParams = {
    batch,
    M,
    N,
    K: KA,
    transA,
    transB,
    // A 2-D operand against a 3-D one is shared by every batch entry.
    strideA: a.shape.length === 3 ? M * KA : 0,
    strideB: b.shape.length === 3 ? KA * N : 0,
    bias: !!o.bias,
    activation: o.activation,
    prologue: o.prologue?.activation,
  };
  if (o.bias && (o.bias.shape.length !== 1 || o.bias.shape[0] !== N)) {
    throw new ShapeError(`matmul: bias ${dims(o.bias)} must be [${N}], one value per output column`);
  }
  const out = outputShape(a, b, params);
  if (o.prologue && (o.prologue.saved.shape.length !== out.length || o.prologue.saved.shape.some((d, i) => d !== out[i]))) {
    throw new ShapeError(`matmul: prologue saved ${dims(o.prologue.saved)} must have the result's shape [${out.join(', ')}]`);
  }
  return params;
}

function outputShape(a: Tensor, b: Tensor, p: MatmulParams): number[] {
  return a.shape.length === 3 || b.shape.length === 3 ? [p.batch, p.M, p.N] : [p.M, p.N];
}

/**
 * C = op(A)·op(B) [+ bias] [→ activation], or (op(A)·op(B)) ⊙ f'(saved) with a prologue, on 2-D
 * [M, K] or batched 3-D [batch, M, K] tensors (a 2-D operand broadcasts over the other's batch).
 * Returns at once: the configuration is the autotuner's known one or the family's default, never
 * a timing run.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  return run(a, b, options, false)[0];
}

/**
 * `matmul` that also returns rowSum = Σ_k op(A)[m, k], the raw row sums of op(A) (no prologue,
 * bias or activation), from the same kernel: [M] for a 2-D result, [batch, M] for a batched one.
 * For dW = dYᵀ·X (A = dY [batch, N] with transA) that is the bias gradient Σ_batch dY.
 */
export function matmulWithRowSum(a: Tensor, b: Tensor, options: MatmulOptions = {}): { c: Tensor; rowSum: Tensor } {
  const [c, rowSum] = run(a, b, options, true);
  return { c, rowSum };
}

function run(a: Tensor, b: Tensor, options: MatmulOptions, rowSumA: boolean): Tensor[] {
  const { transA = false, transB = false, bias, activation, prologue, config } = options;
  const batched = a.shape.length === 3 || b.shape.length === 3;
  // The graph's ops cover equal ranks (row sums of 2-D products); a forced configuration, a 2-D
  // operand broadcast over a batch, or a prologue with an activation (which the kernel refuses,
  // here at once rather than at lowering) run the same kernels directly.
  const fusedBoth = !!prologue && !!activation && activation.kind !== 'none';
  if (!config && a.shape.length === b.shape.length && !(rowSumA && batched) && !fusedBoth) {
    const inputs = [a, b];
    if (bias) inputs.push(bias);
    if (prologue) inputs.push(prologue.saved);
    if (!bias && !activation && !prologue && !rowSumA) return runOp('matmul', inputs, { transA, transB });
    const attrs = { transA, transB, bias: !!bias, activation: activation ?? { kind: 'none' as const }, prologue: prologue?.activation ?? null, rowSum: rowSumA };
    return runOp('matmul_fused', inputs, attrs, 'matmul');
  }
  const params = { ...matmulParams(a, b, options), rowSumA };
  const programOf = (id: string) => matmulProgram(params, matmulConfig(id));
  const candidates = matmulCandidates(params);
  const program = config
    ? forcedProgram(a.engine, 'matmul', config, { known: MATMUL_CONFIGS.map((c) => c.id), suggested: candidates.map((c) => c.id), programOf })
    : programOf(a.engine.tuner.cachedOrDefault(matmulShapeClass(params), candidates.map((c) => matmulTuneCandidate(params, c))));
  const inputs = [a, b];
  if (bias) inputs.push(bias);
  if (prologue && prologue.activation.kind !== 'none') inputs.push(prologue.saved);
  const shape = outputShape(a, b, params);
  const outputs = [{ shape }];
  if (rowSumA) outputs.push({ shape: shape.slice(0, -1) });
  return launch(program, inputs, outputs);
}

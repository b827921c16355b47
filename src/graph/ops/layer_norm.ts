import { ShapeError } from '../../gpu/errors.js';
import { product } from '../../kernels/geometry.js';
import { singleLaunch } from '../../kernels/kernel.js';
import { layerNormBackwardProgram, layerNormForward } from '../../kernels/layer_norm.js';
import { defaultRowVariant } from '../../kernels/softmax.js';
import { describeShape, type TensorType } from '../ir.js';
import { program } from '../lower.js';
import { expectArity, expectF32, expectSameShape, materialise, type OpRule } from './rule.js';

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface LayerNormOps {
  /** x [.., D], weight γ [D], bias β [D] → y, mean [rows], rstd [rows]: torch.nn.LayerNorm over the last axis. */
  layer_norm: { eps: number };
  /** dy, x, mean, rstd, γ → dx, dγ, dβ. */
  layer_norm_backward: Record<string, never>;
}

/** [rows, cols] of x normalised over its last axis. */
function rowsOf(x: TensorType): [number, number] {
  return [product(x.shape.slice(0, -1)), x.shape[x.shape.length - 1]];
}

function checkInput(where: string, x: TensorType): [number, number] {
  expectF32(where, 'input', x);
  if (x.shape.length === 0) throw new ShapeError(`${where}: layer_norm normalises the last axis; the input is a scalar, give it at least one axis`);
  return rowsOf(x);
}

/** Checks per-feature vectors (γ, β) against the normalised width. */
function checkFeatures(where: string, cols: number, named: readonly [string, TensorType][]): void {
  for (const [name, t] of named) {
    expectF32(where, name, t);
    if (t.shape.length !== 1 || t.shape[0] !== cols) {
      throw new ShapeError(`${where}: ${name} ${describeShape(t.shape)} must be [${cols}], one value per element of the normalised last axis`);
    }
  }
}

function checkStats(where: string, rows: number, named: readonly [string, TensorType][]): void {
  for (const [name, t] of named) {
    expectF32(where, name, t);
    if (t.shape.length !== 1 || t.shape[0] !== rows) throw new ShapeError(`${where}: ${name} ${describeShape(t.shape)} must be [${rows}], as saved by layer_norm`);
  }
}

export const layerNormRule: OpRule<'layer_norm'> = {
  infer(inputs, { eps }, where) {
    expectArity(where, inputs, 3, 'x, weight (γ), bias (β)');
    const [rows, cols] = checkInput(where, inputs[0]);
    checkFeatures(where, cols, [['weight', inputs[1]], ['bias', inputs[2]]]);
    if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) {
      throw new ShapeError(`${where}: eps ${String(eps)} must be a finite non-negative number (PyTorch's default is 1e-5)`);
    }
    // y, and the row statistics the backward reads: mean [rows], rstd = 1/√(var + eps) [rows].
    return [
      { shape: inputs[0].shape, dtype: 'f32' },
      { shape: [rows], dtype: 'f32' },
      { shape: [rows], dtype: 'f32' },
    ];
  },
  // With x̂ = (x − μ)·rstd over each row of D values and g = dy ⊙ γ:
  // dx = rstd·(g − Σg/D − x̂·Σ(g ⊙ x̂)/D), dγ = Σ_rows dy ⊙ x̂, dβ = Σ_rows dy.
  grad(g, node, [up, upMean, upRstd]) {
    if (upMean !== null || upRstd !== null) {
      throw new ShapeError(`gradients: ${node.layer ? `${node.layer}: ` : ''}layer_norm's saved mean and rstd are not differentiable; detach them before using them in the loss`);
    }
    if (up === null) return [null, null, null];
    const [x, gamma] = node.inputs;
    const [y, mean, rstd] = node.outputs;
    const [dx, dgamma, dbeta] = g.apply('layer_norm_backward', [materialise(g, up, y), x, mean, rstd, gamma], {});
    return [dx, dgamma, dbeta];
  },
  lower: ({ inputs: [x], attrs }, ctx) => {
    const [rows, cols] = rowsOf(x);
    return program(singleLaunch(layerNormForward(rows, cols, attrs.eps, defaultRowVariant(cols, ctx.software))));
  },
};

export const layerNormBackwardRule: OpRule<'layer_norm_backward'> = {
  infer(inputs, _attrs, where) {
    expectArity(where, inputs, 5, 'dy, x, mean, rstd, weight (γ)');
    const [dy, x, mean, rstd, gamma] = inputs;
    expectSameShape(where, dy, x, 'dy must have the shape of the layer_norm input');
    const [rows, cols] = checkInput(where, x);
    checkStats(where, rows, [['mean', mean], ['rstd', rstd]]);
    checkFeatures(where, cols, [['weight', gamma]]);
    return [
      { shape: x.shape, dtype: 'f32' },
      { shape: [cols], dtype: 'f32' },
      { shape: [cols], dtype: 'f32' },
    ];
  },
  // No model the engine trains needs second derivatives through a normalisation.
  grad: 'nondiff',
  lower: ({ inputs: [, x] }, ctx) => {
    const [rows, cols] = rowsOf(x);
    return program(layerNormBackwardProgram(rows, cols, defaultRowVariant(cols, ctx.software)));
  },
};

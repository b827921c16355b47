import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { activationWGSL, type Activation } from './lib/activations.js';
import { flatIndexWGSL } from './lib/indexing.js';

/**
 * Second launch of split-K matmul: C[b, m, n] = epilogue(Σ_s partial[b, s, m, n]). The partial
 * products were written by a matmul launch with z = b * splits + s; the fused prologue
 * (⊙ activate_grad(saved)), bias and activation are applied here, once, to the full sum.
 * With `rowSum`, the first batch·M invocations also sum the per-split row sums of op(A),
 * rowSum[b, m] = Σ_s partialRows[b, s, m], in split order (so the result is deterministic).
 */
export function matmulSplitKReduceShader(o: { bias: boolean; activation: Activation; prologue?: Activation; rowSum?: boolean }): string {
  const prologue = o.prologue !== undefined;
  const act = o.activation !== 'none';
  let binding = 1;
  const biasBinding = o.bias ? binding++ : -1;
  const savedBinding = prologue ? binding++ : -1;
  const outBinding = binding++;
  // Spliced in as text rather than `#if` blocks, so the code without row sums stays byte-identical.
  let rowSumDecls = '';
  let rowSumBody = '';
  if (o.rowSum) {
    rowSumDecls = `
@group(0) @binding(${binding++}) var<storage, read> partialRows: array<f32>;
@group(0) @binding(${binding++}) var<storage, read_write> rowSum: array<f32>;`;
    // batch·M = total / N row sums, fewer than the invocations of C.
    rowSumBody = `
  if (i < params.total / params.n) {
    let rows = params.mn / params.n;
    var rbase = (i / rows) * params.splits * rows + i % rows;
    var rs = 0.0;
    for (var s = 0u; s < params.splits; s++) {
      rs += partialRows[rbase];
      rbase += rows;
    }
    rowSum[i] = rs;
  }`;
  }
  const paramsBinding = binding++;
  return wgsl`
${activationWGSL(o.prologue ?? o.activation)}
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { total: u32, mn: u32, n: u32, splits: u32 }
@group(0) @binding(0) var<storage, read> partial: array<f32>;
#if ${o.bias}
@group(0) @binding(${biasBinding}) var<storage, read> bias: array<f32>;
#endif
#if ${prologue}
@group(0) @binding(${savedBinding}) var<storage, read> saved: array<f32>;
#endif
@group(0) @binding(${outBinding}) var<storage, read_write> C: array<f32>;${rowSumDecls}
@group(0) @binding(${paramsBinding}) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.total) { return; }
  let b = i / params.mn;
  let e = i % params.mn;
  var base = b * params.splits * params.mn + e;
  var r = 0.0;
  for (var s = 0u; s < params.splits; s++) {
    r += partial[base];
    base += params.mn;
  }
#if ${prologue}
  r *= activate_grad(saved[i]);
#endif
#if ${o.bias}
  r += bias[e % params.n];
#endif
#if ${act}
  r = activate(r);
#endif
  C[i] = r;${rowSumBody}
}
`;
}

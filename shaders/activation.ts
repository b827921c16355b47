import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { activationWGSL, type Activation } from './lib/activations.js';
import { flatIndexWGSL } from './lib/indexing.js';

/**
 * Elementwise activation, forward (y = f(x)) or backward (dx = dy * f'(s), s being what the forward
 * pass saved). Used where no producer kernel could take the activation as an epilogue.
 */
export function activationShader(kind: Activation, direction: 'forward' | 'backward'): string {
  const backward = direction === 'backward';
  return wgsl`
${activationWGSL(kind)}
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { n: u32 }

#if ${backward}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> saved: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
#else
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.n) { return; }
#if ${backward}
  dx[i] = dy[i] * activate_grad(saved[i]);
#else
  y[i] = activate(x[i]);
#endif
}
`;
}

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { flatIndexWGSL } from './lib/indexing.js';

/**
 * Builds one batch of a language model's training windows from a text resident on the GPU as u32
 * token ids: row b of `x` holds tokens[s .. s + context) and row b of `y` the same window shifted
 * by one, tokens[s + 1 .. s + context], where s = starts[first + b]. The windows overlap freely, so
 * they cannot be stored as rows of a dataset; the starts are all that changes per batch.
 */
export function gatherWindowsShader(): string {
  return wgsl`
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { batch: u32, context: u32, first: u32 }

@group(0) @binding(0) var<storage, read> tokens: array<u32>;
@group(0) @binding(1) var<storage, read> starts: array<u32>;
@group(0) @binding(2) var<storage, read_write> x: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<u32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.batch * params.context) { return; }
  let b = i / params.context;
  let at = starts[params.first + b] + (i - b * params.context);
  x[i] = tokens[at];
  y[i] = tokens[at + 1u];
}
`;
}

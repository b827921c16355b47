import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { flatIndexWGSL } from './lib/indexing.js';

/**
 * Builds one training batch from a tensor dataset resident in GPU memory: the feature row and the
 * target row of sample order[start + b] are copied to row b of x and y, in one dispatch (the first
 * batch·x_width invocations write x, the next batch·y_width write y). Rows are copied as raw
 * 32-bit words, so f32 and u32 data pass unchanged, NaN payloads included. With `bytes`, features
 * are u8 packed four to a word (WGSL has no 8-bit storage type) and become
 * (byte/255 − mean)/std, exactly as the image gather computes them.
 */
export function gatherRowsShader(bytes: boolean): string {
  return wgsl`
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { batch: u32, x_width: u32, y_width: u32, start: u32, count: u32, mean: f32, inv_std: f32 }

@group(0) @binding(0) var<storage, read> x_src: array<u32>;
@group(0) @binding(1) var<storage, read> y_src: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read_write> x: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<u32>;
@group(0) @binding(5) var<uniform> params: Params;

// Wraps around the epoch's order, so a final short batch is topped up from its start.
fn sample_of(b: u32) -> u32 {
  return order[(params.start + b) % params.count];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  let nx = params.batch * params.x_width;
  if (i < nx) {
    let b = i / params.x_width;
    let at = sample_of(b) * params.x_width + (i - b * params.x_width);
#if ${bytes}
    let byte = (x_src[at >> 2u] >> ((at & 3u) * 8u)) & 0xffu;
    x[i] = bitcast<u32>((f32(byte) / 255.0 - params.mean) * params.inv_std);
#else
    x[i] = x_src[at];
#endif
    return;
  }
  let k = i - nx;
  if (k >= params.batch * params.y_width) { return; }
  let b = k / params.y_width;
  y[k] = y_src[sample_of(b) * params.y_width + (k - b * params.y_width)];
}
`;
}

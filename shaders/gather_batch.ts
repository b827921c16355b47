import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { flatIndexWGSL } from './lib/indexing.js';
import { philoxWGSL } from './lib/philox.js';

/**
 * Builds one training batch on the GPU from a byte dataset resident in GPU memory: sample
 * order[start + b] is copied to row b, its pixels mapped to (byte/255 − mean[c])/std[c] for the
 * pixel's channel plane c (planes of `plane` bytes, one after another), and its label copied.
 * Bytes are packed four to a u32 word because WGSL has no 8-bit storage type.
 *
 * With `augment`, row b is first transformed by a random affine map drawn from
 * philox_random(seed, stream = draw, counter = b): words x, y give the translation (dx, dy) in
 * [−shift, shift], rounded to whole pixels; z the angle in [−rotate, rotate] (radians); w the scale
 * s in [1 − scale, 1 + scale]. The forward map about the centre c = ((width − 1)/2, (height − 1)/2)
 * is out = s·R(angle)·(in − c) + c + d; each output pixel reads the source at its inverse image
 * in = R(−angle)·(out − c − d)/s + c, bilinearly, with taps outside the image reading byte 0.
 * With `crop` > 0 the translation is instead floor(u·(2·crop + 1)) − crop on each axis (uniform
 * over the whole-pixel offsets of a crop after zero-padding by `crop`). With `flip`, the lowest bit
 * of word x (independent of the 24 high bits the translation uses) mirrors the result left–right.
 * Every channel of a sample gets the same transform.
 * Each invocation handles SEGMENT consecutive pixels of one row of one channel: one Philox call
 * (about 20 emulated 32-bit multiplies), the sin/cos and the index divisions serve them all.
 */
export function gatherBatchShader(augment = false): string {
  return wgsl`
${flatIndexWGSL}
override WG: u32 = 256;
#if ${augment}
${philoxWGSL}
// Pixels of one image row per invocation.
override SEGMENT: u32 = 32;
struct Params {
  batch: u32,
  pixels: u32,
  start: u32,
  count: u32,
  mean: vec4f,
  inv_std: vec4f,
  plane: u32,
  height: u32,
  width: u32,
  seed_lo: u32,
  seed_hi: u32,
  draw: u32,
  shift: f32,
  rotate: f32,
  scale: f32,
  crop: u32,
  flip: u32,
}
#else
struct Params { batch: u32, pixels: u32, start: u32, count: u32, mean: vec4f, inv_std: vec4f, plane: u32 }
#endif

@group(0) @binding(0) var<storage, read> images: array<u32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<u32>;
@group(0) @binding(5) var<uniform> params: Params;

fn byte_at(i: u32) -> u32 {
  return (images[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
}

fn label_at(i: u32) -> u32 {
  return (labels[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
}

#if ${augment}
// The inverse map of one sample: source = c + M·(out − origin), with origin = c + d and
// M = R(−angle)/s kept as its two columns.
struct Transform { origin: vec2f, col_step: vec2f, row_step: vec2f, flipped: bool }

// sin and cos of |angle| ≤ π from Taylor polynomials of the half angle (last omitted terms below
// 1e-9), then the double-angle formulas. WGSL lets the built-ins err by 2^-11, and SwiftShader's
// do (~5e-4): 0.01 pixel at 20 pixels from the centre. This keeps the map within f32 rounding on
// every adapter, so a seed gives the same images everywhere; angle 0 gives exactly (0, 1).
fn sin_cos(angle: f32) -> vec2f {
  let h = 0.5 * angle;
  let z = h * h;
  let s = h * (1.0 + z * (-0.166666667 + z * (0.00833333333 + z * (-0.000198412698 + z * (2.75573192e-06 + z * (-2.50521084e-08 + z * 1.60590438e-10))))));
  let c = 1.0 + z * (-0.5 + z * (0.0416666667 + z * (-0.00138888889 + z * (2.48015873e-05 + z * (-2.75573192e-07 + z * (2.0876757e-09 + z * -1.14707456e-11))))));
  return vec2f(2.0 * s * c, 1.0 - 2.0 * s * s);
}

fn sample_transform(b: u32) -> Transform {
  let r = philox_random(vec2u(params.seed_lo, params.seed_hi), params.draw, b);
  let u = vec2f(u32_to_unit(r.x), u32_to_unit(r.y));
  let crop = f32(params.crop);
  let d = select(round(params.shift * (2.0 * u - 1.0)), floor(u * (2.0 * crop + 1.0)) - crop, params.crop > 0u);
  let angle = params.rotate * (2.0 * u32_to_unit(r.z) - 1.0);
  let s = 1.0 + params.scale * (2.0 * u32_to_unit(r.w) - 1.0);
  let sc = sin_cos(angle) / s;
  let sn = sc.x;
  let cs = sc.y;
  let centre = 0.5 * vec2f(f32(params.width) - 1.0, f32(params.height) - 1.0);
  return Transform(centre + d, vec2f(cs, -sn), vec2f(sn, cs), params.flip != 0u && (r.x & 1u) == 1u);
}

// One bilinear tap, background (byte 0) outside the image. The read is clamped into the image and
// the tap zeroed by select rather than a branch: a CPU adapter runs both sides of a divergent branch.
fn tap(base: u32, row: i32, col: i32) -> f32 {
  let h = i32(params.height);
  let w = i32(params.width);
  let inside = (row >= 0) & (col >= 0) & (row < h) & (col < w);
  let at = base + u32(clamp(row, 0, h - 1)) * params.width + u32(clamp(col, 0, w - 1));
  return select(0.0, f32(byte_at(at)), inside);
}

fn gather_pixel(out: u32, base: u32, point: vec2f, mean: f32, inv_std: f32) {
  // Clamped a pixel beyond the border, where every tap reads background anyway: keeps the
  // integer conversion in range when a small scale factor sends points far away.
  let src = clamp(point, vec2f(-2.0), vec2f(f32(params.width), f32(params.height)) + 1.0);
  let corner = floor(src);
  let f = src - corner;
  let c0 = i32(corner.x);
  let r0 = i32(corner.y);
  let top = mix(tap(base, r0, c0), tap(base, r0, c0 + 1), f.x);
  let bottom = mix(tap(base, r0 + 1, c0), tap(base, r0 + 1, c0 + 1), f.x);
  x[out] = (mix(top, bottom, f.y) / 255.0 - mean) * inv_std;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  let segments = (params.width + SEGMENT - 1u) / SEGMENT;
  let per_plane = params.height * segments;
  let per_sample = (params.pixels / params.plane) * per_plane;
  if (i >= params.batch * per_sample) { return; }
  let b = i / per_sample;
  let q = i - b * per_sample;
  let channel = q / per_plane;
  let p = q - channel * per_plane;
  let row = p / segments;
  let col = (p - row * segments) * SEGMENT;
  // Wraps around the epoch's order, so a final short batch is topped up from its start.
  let sample = order[(params.start + b) % params.count];
  let t = sample_transform(b);
  let centre = 0.5 * vec2f(f32(params.width) - 1.0, f32(params.height) - 1.0);
  // Mirrored, output column col reads the unmirrored column width − 1 − col, and steps backwards.
  let first = select(f32(col), f32(params.width - 1u - col), t.flipped);
  let step = select(t.col_step, -t.col_step, t.flipped);
  let o = vec2f(first, f32(row)) - t.origin;
  let src = centre + o.x * t.col_step + o.y * t.row_step;
  let out = b * params.pixels + channel * params.plane + row * params.width + col;
  let base = sample * params.pixels + channel * params.plane;
  let mean = params.mean[channel];
  let inv_std = params.inv_std[channel];
  // The source point of pixel k is k column steps along (no accumulated rounding).
  let n = min(SEGMENT, params.width - col);
  for (var k = 0u; k < n; k++) {
    gather_pixel(out + k, base, src + f32(k) * step, mean, inv_std);
  }
  if (q == 0u) { y[b] = label_at(sample); }
}
#else
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.batch * params.pixels) { return; }
  let b = i / params.pixels;
  let p = i - b * params.pixels;
  // Wraps around the epoch's order, so a final short batch is topped up from its start.
  let sample = order[(params.start + b) % params.count];
  let channel = p / params.plane;
  x[i] = (f32(byte_at(sample * params.pixels + p)) / 255.0 - params.mean[channel]) * params.inv_std[channel];
  if (p == 0u) { y[b] = label_at(sample); }
}
#endif
`;
}

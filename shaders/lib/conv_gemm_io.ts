import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

/** Uniform block shared by the implicit-GEMM conv kernels; written by src/kernels/conv2d_gemm.ts. */
export const convGemmParamsWGSL = /* wgsl */ `
struct Params {
  batch: i32, m: i32, c: i32, positions: i32,
  src_h: i32, src_w: i32, dst_h: i32, dst_w: i32,
  stride_h: i32, stride_w: i32, pad_h: i32, pad_w: i32,
  dil_h: i32, dil_w: i32, w_stride_out: i32, w_stride_red: i32,
}
`;

/** Bindings of the implicit-GEMM conv kernels: src, weight, [bias], dst, params. */
export function convGemmBindingsWGSL(bias: boolean): string {
  return wgsl`@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
#if ${bias}
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
#else
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
#endif`;
}

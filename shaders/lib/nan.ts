/**
 * `is_nan(x)` and `is_inf(x)` from the bits (exponent all ones; mantissa non-zero for NaN, zero for
 * infinity): WGSL lets a compiler assume no NaN or infinity reaches a shader, so `x != x` may be
 * folded to false, while an integer test cannot be. `nan_f32()` reads its bits from a variable,
 * since a NaN constant is a shader-creation error in WGSL.
 */
export const isNanWGSL = /* wgsl */ `
fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}
fn is_inf(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u;
}
var<private> nan_bits: u32 = 0x7fc00000u;
fn nan_f32() -> f32 {
  return bitcast<f32>(nan_bits);
}
`;

/**
 * `is_nan(x)` from the bits (exponent all ones, mantissa non-zero): WGSL lets a compiler assume no
 * NaN reaches a shader, so `x != x` may be folded to false, while an integer test cannot be.
 */
export const isNanWGSL = /* wgsl */ `
fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}
`;

declare module 'wgsl-preprocessor/wgsl-preprocessor.js' {
  /** Template tag resolving `#if ${cond}` / `#elif` / `#else` / `#endif` branches in WGSL. */
  export function wgsl(strings: TemplateStringsArray, ...values: unknown[]): string;
}

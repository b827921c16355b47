/** Points of the square [-1, 1]², labelled by their ring: inside radius 0.5 (0), up to 0.85 (1), beyond (2). */
export function ringPoints(count: number): { x: Float32Array; y: Uint32Array } {
  const x = new Float32Array(count * 2);
  const y = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    x[2 * i] = Math.random() * 2 - 1;
    x[2 * i + 1] = Math.random() * 2 - 1;
    const r = Math.hypot(x[2 * i], x[2 * i + 1]);
    y[i] = r < 0.5 ? 0 : r < 0.85 ? 1 : 2;
  }
  return { x, y };
}

/** What the page sends the worker to start the 'rings' job (structured-cloned: plain data and typed arrays). */
export interface RingsConfig {
  x: Float32Array;
  y: Uint32Array;
  epochs: number;
  lr: number;
}

/** Draws one grayscale image (values in [lo, hi], row-major) into a canvas of its own size. */
export function grayImage(canvas: HTMLCanvasElement, values: ArrayLike<number>, width: number, height: number, lo = 0, hi = 255): void {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(width, height);
  const span = hi - lo || 1;
  for (let i = 0; i < width * height; i++) {
    const v = Math.max(0, Math.min(255, Math.round(((values[i] - lo) / span) * 255)));
    img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = v;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/**
 * Draws signed weights with a diverging map (blue negative, white zero, red positive), scaled by
 * the largest magnitude so every filter uses the full range.
 */
export function weightImage(canvas: HTMLCanvasElement, values: ArrayLike<number>, width: number, height: number): void {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(width, height);
  let max = 1e-12;
  for (let i = 0; i < width * height; i++) max = Math.max(max, Math.abs(values[i]));
  for (let i = 0; i < width * height; i++) {
    const t = values[i] / max;
    const fade = Math.round(255 * (1 - Math.abs(t)));
    img.data[i * 4] = t > 0 ? 255 : fade;
    img.data[i * 4 + 1] = fade;
    img.data[i * 4 + 2] = t < 0 ? 255 : fade;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** A canvas shown enlarged with crisp pixels (CSS class `pixels`). */
export function pixelCanvas(title = ''): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.className = 'pixels';
  if (title) c.title = title;
  return c;
}

import { el } from './shell.js';

/** Draws one planar RGB image ([3, h, w] bytes, as CIFAR stores it) into a canvas of its own size. */
export function rgbImage(canvas: HTMLCanvasElement, planar: Uint8Array, width: number, height: number): void {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(width, height);
  const plane = width * height;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) img.data[p * 4 + c] = planar[c * plane + p];
    img.data[p * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/**
 * A confusion matrix with class names (rows: true class, columns: predicted): the diagonal shaded
 * blue by each row's share, mistakes orange by their count against the largest mistake.
 */
export function drawNamedConfusion(table: HTMLTableElement, m: number[][], names: readonly string[]): void {
  const max = Math.max(1, ...m.flatMap((row, i) => row.filter((_, j) => j !== i)));
  const short = (s: string) => (s.length > 6 ? `${s.slice(0, 5)}…` : s);
  const head = el('tr', {}, el('th', {}, ''));
  for (let j = 0; j < m.length; j++) head.append(el('th', { title: names[j] ?? String(j) }, short(names[j] ?? String(j))));
  const rows = [head];
  m.forEach((row, i) => {
    const tr = el('tr', {}, el('th', { title: names[i] ?? String(i) }, short(names[i] ?? String(i))));
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((v, j) => {
      const td = el('td', {}, v ? String(v) : '');
      td.style.background = i === j ? `rgba(47, 111, 222, ${(0.15 + 0.6 * (v / total)).toFixed(2)})` : v ? `rgba(224, 103, 43, ${(0.1 + 0.7 * (v / max)).toFixed(2)})` : '';
      tr.append(td);
    });
    rows.push(tr);
  });
  table.replaceChildren(...rows);
}

/** The most probable class of each row of `probs` ([count, classes]) and its probability. */
export function bestClasses(probs: Float32Array, classes: number): { predicted: number; confidence: number }[] {
  const out = [];
  for (let r = 0; r < probs.length / classes; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[r * classes + c] > probs[r * classes + best]) best = c;
    out.push({ predicted: best, confidence: probs[r * classes + best] });
  }
  return out;
}

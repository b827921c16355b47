import { ShapeError } from '../../src/gpu/errors.js';
import type { TextAttention } from './text_job.js';
import { el } from './shell.js';

const CELL = 20;

/** How a character is shown on the heatmap's axes (whitespace made visible). */
function visible(c: string): string {
  return c === '\n' ? '↵' : c === ' ' ? '·' : c === '\t' ? '→' : c;
}

/**
 * Draws one head's attention pattern [T, T] as a heatmap: row t = the query at character t,
 * column s = how much of its attention goes to character s (white 0 → dark blue 1).
 */
export function drawAttention(canvas: HTMLCanvasElement, a: TextAttention, layer: number, head: number): void {
  const T = a.characters.length;
  const pattern = a.patterns[layer]?.[head];
  if (!pattern) throw new ShapeError(`attention view: no layer ${layer} head ${head}`);
  const margin = CELL + 4;
  canvas.width = margin + T * CELL;
  canvas.height = margin + T * CELL;
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = `${CELL - 3}px ui-monospace, monospace`;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillStyle = '#555';
  for (let t = 0; t < T; t++) {
    const c = visible(a.characters[t]);
    ctx.fillText(c, margin + t * CELL + CELL / 2, CELL / 2);
    ctx.fillText(c, CELL / 2, margin + t * CELL + CELL / 2);
  }
  for (let t = 0; t < T; t++) {
    for (let s = 0; s < T; s++) {
      const w = s <= t ? pattern[t * T + s] : 0;
      const shade = Math.round(255 * (1 - w));
      ctx.fillStyle = s <= t ? `rgb(${shade},${shade},${Math.round(255 - 120 * w)})` : '#eee';
      ctx.fillRect(margin + s * CELL, margin + t * CELL, CELL - 1, CELL - 1);
    }
  }
}

/** Options for a select of 0 … count−1, keeping the current choice when it still exists. */
export function fillIndexSelect(select: HTMLSelectElement, count: number, label: string): void {
  if (select.options.length === count) return;
  const keep = Number(select.value) || 0;
  select.replaceChildren(...Array.from({ length: count }, (_, i) => el('option', { value: String(i) }, `${label} ${i}`)));
  select.value = String(Math.min(keep, count - 1));
}

/**
 * The default text: webgpu-dl's own TypeScript sources, bundled into the page at build time (no
 * download), concatenated in path order up to `limit` characters.
 */
export function bundledSource(files: Record<string, string>, limit: number): string {
  let text = '';
  for (const path of Object.keys(files).sort()) {
    if (text.length >= limit) break;
    text += `// ${path.replace(/^(\.\.\/)+/, '')}\n${files[path]}\n`;
  }
  return text.slice(0, limit);
}

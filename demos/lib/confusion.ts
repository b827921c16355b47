import { el } from './shell.js';

/**
 * Draws a confusion matrix (rows: true class, columns: predicted; the first 10 classes) into
 * `table`: the diagonal shaded blue by each row's share, mistakes orange by their count against the
 * largest mistake, so the common confusions stand out.
 */
export function drawConfusion(table: HTMLTableElement, m: number[][]): void {
  const max = Math.max(1, ...m.flatMap((row, i) => row.filter((_, j) => j !== i)));
  const head = el('tr', {}, el('th', {}, ''));
  for (let j = 0; j < 10; j++) head.append(el('th', {}, String(j)));
  const rows = [head];
  m.slice(0, 10).forEach((row, i) => {
    const tr = el('tr', {}, el('th', {}, String(i)));
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.slice(0, 10).forEach((v, j) => {
      const td = el('td', {}, v ? String(v) : '');
      td.style.background = i === j ? `rgba(47, 111, 222, ${(0.15 + 0.6 * (v / total)).toFixed(2)})` : v ? `rgba(224, 103, 43, ${(0.1 + 0.7 * (v / max)).toFixed(2)})` : '';
      tr.append(td);
    });
    rows.push(tr);
  });
  table.replaceChildren(...rows);
}

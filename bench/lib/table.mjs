// Human-readable rendering of a benchmark report (bench/run.mjs without --json).

const fixed = (x, digits) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

/** A plain-text table: one row per workload, then the adapter and the date. */
export function formatTable(report) {
  const header = ['workload', 'unit', 'ours', 'TF.js', 'ratio', 'ours ms', 'TF.js ms'];
  const rows = report.workloads.map((w) => [
    w.id,
    w.unit,
    fixed(w.ours, 3),
    fixed(w.tfjs, 3),
    `${fixed(w.ratio, 2)}×`,
    fixed(w.oursMedianMs, 2),
    fixed(w.tfjsMedianMs, 2),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells) => cells.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  const a = report.adapter;
  return [
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `adapter: ${a.vendor} / ${a.architecture}${a.description ? ` / ${a.description}` : ''}${a.software ? ' (software)' : ''}`,
    `TF.js ${a.tfjsVersion}; medians of ${report.workloads[0]?.runs ?? 0} alternating runs; ${report.date}`,
    ...(report.failed ? [`not finished: ${report.failed.id} (${report.failed.error})${report.notRun?.length ? `; not run: ${report.notRun.join(', ')}` : ''}`] : []),
    '',
  ].join('\n');
}

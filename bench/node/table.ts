import type { NodeWorkloadResult } from './measure.js';

/** What run_node.ts prints with --json; rendered by `formatNodeTable` without it. */
export interface NodeBenchReport {
  adapter: { vendor: string; architecture: string; description: string; software: boolean; node: string; cpu: string; cpus: number };
  date: string;
  command: string;
  workloads: NodeWorkloadResult[];
  failed?: { id: string; error: string };
  notRun?: string[];
}

const fixed = (x: number | undefined, digits: number) => (x === undefined ? '-' : x.toFixed(digits));

/** A plain-text table: one row per workload (per step where the workload counts steps), then the adapter. */
export function formatNodeTable(report: NodeBenchReport): string {
  const header = ['workload', 'unit', 'ours', 'batch', 'ms/run', 'CPU ms/run', 'ms/step', 'CPU ms/step'];
  const rows = report.workloads.map((w) => [
    w.id,
    w.unit,
    fixed(w.ours, 3),
    w.batch === undefined ? '-' : String(w.batch),
    fixed(w.oursMedianMs, 2),
    fixed(w.oursCpuMsPerRun, 2),
    fixed(w.oursMsPerStep, 3),
    fixed(w.oursCpuMsPerStep, 3),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  const a = report.adapter;
  const runs = report.workloads[0];
  return [
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `adapter: ${a.vendor} / ${a.architecture}${a.description ? ` / ${a.description}` : ''}${a.software ? ' (software)' : ''}`,
    `webgpu-dl alone in Node ${a.node} on Dawn; CPU: ${a.cpus} × ${a.cpu} (CPU ms: process time, all threads)`,
    runs ? `medians of ${runs.runs} runs after ${runs.warmup} warm-up; ${report.date}` : report.date,
    ...(report.failed ? [`not finished: ${report.failed.id} (${report.failed.error})${report.notRun?.length ? `; not run: ${report.notRun.join(', ')}` : ''}`] : []),
    '',
  ].join('\n');
}

export interface BenchReport {
  adapter: { vendor: string; architecture: string; description?: string; software?: boolean; tfjsVersion: string };
  date: string;
  workloads: { id: string; unit: string; ours: number; tfjs: number; ratio: number; oursMedianMs: number; tfjsMedianMs: number; runs?: number }[];
  failed?: { id: string; error: string };
  notRun?: string[];
}

export declare function formatTable(report: BenchReport): string;

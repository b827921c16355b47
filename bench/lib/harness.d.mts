export declare function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T>;

export interface WorkloadRun<R> {
  results: R[];
  /** The workload that failed or timed out, which ended the run. */
  failed?: { id: string; error: string };
  /** Workloads after the failed one, not started. */
  notRun?: string[];
}

export declare function runWorkloads<W extends { id: string }, R>(
  workloads: readonly W[],
  run: (w: W) => Promise<R>,
  options: { timeoutMs: number; onResult?: (w: W, result: R) => void },
): Promise<WorkloadRun<R>>;

export declare function writeJsonAtomically(path: string, value: unknown): Promise<void>;

export declare function checkOutputFile(path: string): Promise<void>;

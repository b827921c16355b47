import { vi } from 'vitest';
import { main } from '../../src/cli/main.js';

/** Runs the CLI in-process, capturing what it prints to stdout (`out`) and stderr (`err`) by line. */
export async function runCli(args: string[]): Promise<{ status: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    return { status: await main(args), out, err };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

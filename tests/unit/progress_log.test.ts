import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProgressLog } from '../../src/cli/progress.js';

describe('ProgressLog', () => {
  afterEach(() => vi.useRealTimers());

  it('writes at most one line per interval, the first one interval after it starts', () => {
    vi.useFakeTimers({ now: 0 });
    const lines: string[] = [];
    const log = new ProgressLog((l) => lines.push(l), 1000);
    log.update('a');
    vi.setSystemTime(999);
    log.update('b');
    expect(lines).toEqual([]);
    vi.setSystemTime(1000);
    log.update('c');
    log.update('d');
    vi.setSystemTime(1500);
    log.update('e');
    vi.setSystemTime(2000);
    log.update('f');
    expect(lines).toEqual(['c', 'f']);
  });
});

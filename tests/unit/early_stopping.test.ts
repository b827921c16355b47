import { describe, expect, it } from 'vitest';
import { EarlyStopping } from '../../src/train/early_stopping.js';

/** The 1-based epoch at which `losses` make the rule stop, or undefined. */
function stopsAt(rule: EarlyStopping, losses: number[]): number | undefined {
  const i = losses.findIndex((l) => rule.stale(l));
  return i < 0 ? undefined : i + 1;
}

describe('EarlyStopping', () => {
  it('stops after `patience` epochs in a row without a new best', () => {
    expect(stopsAt(new EarlyStopping(2), [1, 0.9, 0.95, 0.91, 0.8])).toBe(4);
    expect(stopsAt(new EarlyStopping(1), [1, 1])).toBe(2);
  });

  it('restarts the count on every improvement', () => {
    expect(stopsAt(new EarlyStopping(2), [1, 1.1, 0.9, 1.0, 0.8, 0.85, 0.7])).toBeUndefined();
  });

  it('counts an improvement smaller than minDelta as none', () => {
    expect(stopsAt(new EarlyStopping(2, 0.05), [1, 0.97, 0.96])).toBe(3);
    expect(stopsAt(new EarlyStopping(2, 0.05), [1, 0.9, 0.8, 0.7])).toBeUndefined();
  });

  it('rejects a patience or minDelta that cannot work', () => {
    expect(() => new EarlyStopping(0)).toThrow(/patience 0 must be a positive integer/);
    expect(() => new EarlyStopping(2.5)).toThrow(/patience 2.5/);
    expect(() => new EarlyStopping(1, NaN)).toThrow(/minDelta NaN must be a finite number >= 0/);
  });
});

import { describe, expect, it } from 'vitest';
import { argmaxRows, classificationReport, confusionMatrix, rocAuc } from '../../src/train/metrics.js';

describe('metrics', () => {
  it('computes confusion, accuracy and per-class precision/recall/F1', () => {
    const labels = [0, 0, 1, 1, 1, 2];
    const preds = [0, 1, 1, 1, 0, 1];
    const m = confusionMatrix(labels, preds, 3);
    expect(m).toEqual([[1, 1, 0], [1, 2, 0], [0, 1, 0]]);
    const r = classificationReport(m);
    expect(r.accuracy).toBeCloseTo(3 / 6, 12);
    expect(r.perClass[1].precision).toBeCloseTo(2 / 4, 12);
    expect(r.perClass[1].recall).toBeCloseTo(2 / 3, 12);
    expect(r.perClass[1].f1).toBeCloseTo((2 * 0.5 * (2 / 3)) / (0.5 + 2 / 3), 12);
    expect(r.perClass[2]).toEqual({ precision: 0, recall: 0, f1: 0, support: 1 });
    expect(() => confusionMatrix([0, 3], [0, 0], 3)).toThrow(/out of range at sample 1/);
  });

  it('computes ROC-AUC with ties as the pairwise ranking probability', () => {
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBeCloseTo(0.75, 12);
    expect(rocAuc([1, 0], [0.5, 0.5])).toBeCloseTo(0.5, 12);
    expect(rocAuc([0, 1], [0, 1])).toBe(1);
    // Against a brute-force count over all pairs.
    const labels = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0];
    const scores = [0.9, 0.3, 0.3, 0.7, 0.8, 0.1, 0.3, 0.3, 0.2, 0.05];
    let wins = 0;
    let pairs = 0;
    labels.forEach((a, i) => labels.forEach((b, j) => {
      if (a === 1 && b === 0) {
        pairs++;
        wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
    }));
    expect(rocAuc(labels, scores)).toBeCloseTo(wins / pairs, 12);
    expect(() => rocAuc([1, 1], [0.2, 0.3])).toThrow(/at least one positive and one negative/);
  });

  it('takes the argmax of each row', () => {
    expect([...argmaxRows([0, 2, 1, 5, -1, 4], 3)]).toEqual([1, 0]);
  });
});

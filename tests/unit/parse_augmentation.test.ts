import { describe, expect, it } from 'vitest';
import { parseAugmentation } from '../../src/data/augment.js';
import { ShapeError } from '../../src/gpu/errors.js';

describe('parseAugmentation', () => {
  it('reads any subset of shift, rotate and scale in any order', () => {
    expect(parseAugmentation('shift=2,rotate=10,scale=0.1')).toEqual({ shift: 2, rotate: 10, scale: 0.1 });
    expect(parseAugmentation(' rotate = 15 , shift=3')).toEqual({ rotate: 15, shift: 3 });
    expect(parseAugmentation('scale=0')).toEqual({ scale: 0 });
  });

  it('says what is wrong with the text, in the form it takes', () => {
    const cases: [string, RegExp][] = [
      ['shift', /^augment shift: expected key=value pairs separated by commas, e\.g\. shift=2,rotate=10,scale=0\.1$/],
      ['shift=2,shift=3', /^augment shift=2,shift=3: shift is given twice$/],
      ['rotate=ten', /^augment rotate=ten: rotate=ten is not a number$/],
      ['shift=-1', /^augment shift=-1: shift -1 must be a number ≥ 0 .*e\.g\. shift=2$/],
      ['rotate=190', /^augment rotate=190: rotate 190 exceeds 180 degrees/],
      ['tilt=3', /^augment tilt=3: unknown option 'tilt'/],
      ['', /^augment : expected key=value pairs/],
    ];
    for (const [text, message] of cases) {
      expect(() => parseAugmentation(text)).toThrow(ShapeError);
      expect(() => parseAugmentation(text)).toThrow(message);
    }
  });
});

import { ShapeError } from '../gpu/errors.js';

/**
 * The largest seed. Seeds are 32-bit: the augmentation's Philox key takes the seed's low 32 bits
 * and the shuffle hashes it to 32 bits, so larger seeds would repeat smaller ones' runs (and the
 * initialisation keys derived from them would leave the exactly representable integers).
 */
export const MAX_SEED = 0xffffffff;

/** Throws a ShapeError, prefixed with `who`, unless `seed` is an integer in [0, MAX_SEED]. */
export function checkSeed(who: string, seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new ShapeError(`${who}: seed ${seed} must be an integer from 0 to ${MAX_SEED}`);
  }
}

import { WebGPUDLError } from '../gpu/errors.js';

/** Learning rate for global step `step` (0-based) of `total`, from the base rate. */
export type Schedule = (step: number, total: number, base: number) => number;

/** lr·gamma^⌊step/every⌋, as torch.optim.lr_scheduler.StepLR (counted in steps). */
export function stepDecay(every: number, gamma = 0.1): Schedule {
  if (!(every >= 1)) throw new WebGPUDLError(`stepDecay: every ${every} must be at least 1 step`);
  return (step, _total, base) => base * gamma ** Math.floor(step / every);
}

/** Cosine annealing from base to `min` over the run, as CosineAnnealingLR with T_max = total. */
export function cosine(min = 0): Schedule {
  return (step, total, base) => min + ((base - min) * (1 + Math.cos((Math.PI * Math.min(step, total)) / Math.max(1, total)))) / 2;
}

/** Linear warm-up from 0 over `steps`, then `after` (constant by default). */
export function linearWarmup(steps: number, after: Schedule = (_s, _t, base) => base): Schedule {
  if (!(steps >= 1)) throw new WebGPUDLError(`linearWarmup: steps ${steps} must be at least 1`);
  return (step, total, base) => (step < steps ? (base * (step + 1)) / steps : after(step - steps, Math.max(1, total - steps), base));
}

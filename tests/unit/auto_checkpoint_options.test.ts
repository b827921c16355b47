import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors.js';
import { checkAutoCheckpoint, type AutoCheckpointOptions } from '../../src/train/auto_checkpoint.js';
import { SnapshotWriter } from '../../src/train/snapshot_file.js';

describe('autoCheckpoint.onSnapshot', () => {
  it('is a function, and not given with a target', () => {
    expect(() => checkAutoCheckpoint({ everySteps: 2, onSnapshot: async () => {} })).not.toThrow();
    expect(() => checkAutoCheckpoint({ everySteps: 2, onSnapshot: 3 } as unknown as AutoCheckpointOptions)).toThrow(ShapeError);
    expect(() => checkAutoCheckpoint({ everySteps: 2, onSnapshot: 3 } as unknown as AutoCheckpointOptions)).toThrow(/autoCheckpoint.onSnapshot must be a function, got number/);
    expect(() => checkAutoCheckpoint({ everySteps: 2, target: { file: 'run.safetensors' }, onSnapshot: async () => {} })).toThrow(/give target or onSnapshot, not both/);
  });

  it('gets the newest snapshot offered, one write at a time, and keeps the first failure', async () => {
    const written: number[] = [];
    let release!: () => void;
    const writer = new SnapshotWriter<number>(async (n) => {
      if (n === 1) await new Promise<void>((r) => (release = r));
      if (n === 4) throw new Error('disk full');
      written.push(n);
    });
    writer.offer(1);
    writer.offer(2);
    writer.offer(3); // replaces 2, still waiting behind 1
    release();
    await writer.settle();
    expect(written).toEqual([1, 3]);
    writer.offer(4);
    writer.offer(5);
    await writer.settle();
    expect(() => writer.rethrow()).toThrow(/disk full/);
    expect(written).toEqual([1, 3]);
  });
});

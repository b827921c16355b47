import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Library build: src/index.ts → dist/webgpu-dl.js (ESM). Declarations come from
 * `tsc -p tsconfig.build.json`. The demo app has its own config in demos/vite.config.ts.
 */
export default defineConfig({
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    // Readable output: applications minify when they bundle us.
    minify: false,
    target: 'es2022',
    lib: {
      entry: resolve(root, 'src/index.ts'),
      formats: ['es'],
      fileName: () => 'webgpu-dl.js',
    },
    rolldownOptions: {
      // `webgpu` (Dawn) and node:* are reached only through dynamic imports on the Node path;
      // kept external, a browser bundler never has to resolve them and the browser never loads them.
      external: ['webgpu', /^node:/],
    },
  },
});

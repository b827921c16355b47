import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

/** Every top-level .html file in demos/ is one page of the multi-page app. */
const pages = Object.fromEntries(
  readdirSync(here)
    .filter((f) => f.endsWith('.html'))
    .map((f) => [f.replace(/\.html$/, ''), resolve(here, f)]),
);

/**
 * The demo app: demos/ is the Vite root and imports the library from ../src. Kept apart from the
 * library build (../vite.config.ts) so neither sees the other's entry points.
 */
export default defineConfig({
  root: here,
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
});

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Modules only the Node code paths load: Dawn (`webgpu`) and Node's built-ins. */
const NODE_ONLY = /\bimport\((['"])(webgpu|node:[\w/]+)\1\)/g;

/**
 * The Node-only paths reach `webgpu` and node:* through dynamic imports that never run in a
 * browser. Left as string literals, an application's bundler would still follow them (pulling
 * Dawn's native loader into a lazy chunk and warning about externalised built-ins), so the
 * published bundle loads them through a specifier bundlers do not trace.
 */
function opaqueNodeImports(): Plugin {
  return {
    name: 'webgpu-dl:opaque-node-imports',
    apply: 'build',
    renderChunk(code) {
      if (!code.match(NODE_ONLY)) return null;
      // Appended, not prepended, so line numbers (and the source map) stay as they were; a function
      // declaration is hoisted, so the calls above it work.
      const helper =
        '\nfunction importNodeOnly(specifier) {\n\treturn import(/* @vite-ignore */ /* webpackIgnore: true */ specifier);\n}\n';
      return { code: code.replace(NODE_ONLY, (_, quote, name) => `importNodeOnly(${quote}${name}${quote})`) + helper, map: null };
    },
  };
}

/**
 * The declarations `tsc -p tsconfig.build.json` writes name GPUDevice, GPUBuffer and the other WebGPU
 * types without saying where they come from, so an application that type-checks libraries
 * (`skipLibCheck: false`) and has no `@webgpu/types` of its own would fail on them. The types entry
 * beside dist/webgpu-dl.js carries the reference (and the package depends on @webgpu/types).
 */
function typesEntry(): Plugin {
  return {
    name: 'webgpu-dl:types-entry',
    apply: 'build',
    generateBundle() {
      for (const [fileName, module] of [
        ['webgpu-dl.d.ts', './src/index.js'],
        ['worker.d.ts', './src/worker/index.js'],
      ]) {
        this.emitFile({ type: 'asset', fileName, source: `/// <reference types="@webgpu/types" />\nexport * from '${module}';\n` });
      }
    },
  };
}

/**
 * Library build: src/index.ts → dist/webgpu-dl.js, src/worker/index.ts → dist/worker.js and src/cli/main.ts →
 * dist/cli.js (ESM), the code they share in dist/core.js. Declarations come from `tsc -p tsconfig.build.json` (dist/src/, entered through dist/webgpu-dl.d.ts).
 * The demo app has its own config in demos/vite.config.ts.
 */
export default defineConfig({
  plugins: [opaqueNodeImports(), typesEntry()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    // Readable output: applications minify when they bundle us.
    minify: false,
    target: 'es2022',
    lib: {
      // The library, training in a Web Worker (`webgpu-dl/worker`), and the Node command line
      // (bin/webgpu-dl.js loads dist/cli.js).
      entry: { 'webgpu-dl': resolve(root, 'src/index.ts'), worker: resolve(root, 'src/worker/index.ts'), cli: resolve(root, 'src/cli/main.ts') },
      formats: ['es'],
      fileName: (_format, name) => `${name}.js`,
    },
    rolldownOptions: {
      // `webgpu` (Dawn) and node:* are reached only through dynamic imports on the Node path;
      // kept external, a browser bundler never has to resolve them and the browser never loads them.
      external: ['webgpu', /^node:/],
      output: {
        // The entries share most of the engine. Left to itself the bundler names that shared chunk
        // after whichever module it picks first (`png-<hash>.js`), which reads like an image codec in a
        // stack trace; grouped under one stable name it is `dist/core.js`. No hash: applications
        // bundle and hash us themselves, and a fixed name keeps stack traces and imports readable.
        chunkFileNames: '[name].js',
        codeSplitting: { groups: [{ name: 'core', minShareCount: 2 }] },
      },
    },
  },
});

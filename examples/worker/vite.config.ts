import { defineConfig } from 'vite';

// Module workers (`new Worker(url, { type: 'module' })`) are bundled as ES modules.
export default defineConfig({ worker: { format: 'es' } });

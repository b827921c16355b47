#!/usr/bin/env node
// Command-line entry: the compiled CLI lives in dist/ (built by `npm run build`; `npm pack` builds it into the tarball).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('webgpu-dl: the CLI is not built yet; run `npm run build` in the webgpu-dl folder first');
  process.exit(1);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));

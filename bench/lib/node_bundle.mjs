// `npm run bench -- --node ...`: builds webgpu-dl's side of the workloads into one plain-JavaScript
// file (bench/node/vite.config.ts → bench/dist-node/run-node.js), then runs it in Node with the
// other arguments, exactly as a machine with only `node` and the `webgpu` package runs it.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CONFIG = fileURLToPath(new URL('../node/vite.config.ts', import.meta.url));
export const NODE_BUNDLE = fileURLToPath(new URL('../dist-node/run-node.js', import.meta.url));

/** Builds the bundle afresh (about a second), runs it with `args`, and resolves to its exit status. */
export async function runNodeBench(args) {
  const { build } = await import('vite');
  await build({ configFile: CONFIG });
  const child = spawn(process.execPath, [NODE_BUNDLE, ...args], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

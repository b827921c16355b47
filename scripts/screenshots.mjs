// Regenerates the README's demo screenshots (docs/screenshots/<demo>.png): trains each demo in
// headless Chromium with the settings below, draws a digit on the classifiers' pad, and saves the
// page. On SwiftShader the MLP takes about a minute and the CNN a few.
//
//   node scripts/screenshots.mjs            # mlp and cnn
//   node scripts/screenshots.mjs mlp        # one of them
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startVite, watchErrors } from '../bench/lib/chromium.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const OUT_DIR = resolve(repo, 'docs/screenshots');

/** Query strings as the demo pages read them; maxSteps stops training, which the script waits for. */
const DEMOS = {
  mlp: '?arch=128,64&train=10000&test=1000&batch=64&evalEvery=80&maxSteps=400&augment=shift=2,rotate=10',
  cnn: '?arch=8,16&train=10000&test=500&batch=64&evalEvery=40&maxSteps=160',
};

const wanted = process.argv.slice(2);
for (const name of wanted) if (!(name in DEMOS)) throw new Error(`screenshots: unknown demo '${name}'; choose from ${Object.keys(DEMOS).join(', ')}`);
const names = wanted.length ? wanted : Object.keys(DEMOS);

const vite = await startVite({ configFile: resolve(repo, 'demos/vite.config.ts') });
const browser = await launchChromium({ webgpu: true });
try {
  mkdirSync(OUT_DIR, { recursive: true });
  for (const name of names) {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    page.setDefaultTimeout(30 * 60_000);
    const errors = watchErrors(page, (text) => console.error(`${name}: ${text}`));
    await page.goto(`${vite.url}${name}.html${DEMOS[name]}`, { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.train === 'idle');
    const started = Date.now();
    await page.click('#start');
    await page.waitForFunction(() => document.body.dataset.train === 'done', undefined, { polling: 1000 });
    await drawTwo(page);
    const path = resolve(OUT_DIR, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    await page.close();
    if (errors.length) throw new Error(`screenshots: ${name} logged errors (see above)`);
    console.log(`${name}: trained in ${((Date.now() - started) / 1000).toFixed(0)} s, saved ${path}`);
  }
} finally {
  await browser.close();
  await vite.close();
}

/** A "2" on the draw pad, so the screenshot shows a live prediction. */
async function drawTwo(page) {
  const pad = page.locator('#draw-pad');
  await pad.scrollIntoViewIfNeeded();
  const box = await pad.boundingBox();
  const at = (x, y) => [box.x + box.width * x, box.y + box.height * y];
  const stroke = [[0.3, 0.3], [0.4, 0.17], [0.6, 0.17], [0.68, 0.32], [0.6, 0.5], [0.3, 0.82], [0.72, 0.82]];
  await page.mouse.move(...at(...stroke[0]));
  await page.mouse.down();
  for (const point of stroke.slice(1)) await page.mouse.move(...at(...point), { steps: 6 });
  await page.mouse.up();
  await page.waitForSelector('#draw-top3[data-prediction]');
  await page.evaluate(() => window.scrollTo(0, 0));
}

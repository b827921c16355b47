// Reads a Vitest JSON report for .ci/run and prints one line: `PASSED FAILED UNFINISHED_FILES...`.
//   node scripts/ci_report.mjs REPORT [--except FILE...]
// A file that failed to load counts as one failure. A file whose worker died mid-run (a native crash in
// the WebGPU driver, say) leaves tests "pending": those files are listed so CI can re-run them, and
// their passed tests are not counted here. `--except` leaves files out of the counts entirely.
import { readFileSync } from 'node:fs';

const [reportPath, ...rest] = process.argv.slice(2);
const except = new Set(rest[0] === '--except' ? rest.slice(1) : []);
let report;
try {
  report = JSON.parse(readFileSync(reportPath, 'utf8'));
} catch (e) {
  console.error(`ci: no test report (${e.message})`);
  console.log('0 0');
  process.exit(0);
}

let passed = 0;
let failed = 0;
const unfinished = [];
for (const file of report.testResults ?? []) {
  if (except.has(file.name)) continue;
  const tests = file.assertionResults ?? [];
  if (file.status === 'failed' && tests.length === 0) {
    console.error(`ci: test file failed before running its tests: ${file.name}\n${file.message ?? ''}`);
    failed++;
    continue;
  }
  const pending = tests.filter((t) => t.status === 'pending');
  if (pending.length) {
    console.error(`ci: ${file.name} stopped before finishing; unfinished: ${pending.map((t) => `'${t.fullName}'`).join(', ')}`);
    unfinished.push(file.name);
    failed += tests.filter((t) => t.status === 'failed').length;
    continue;
  }
  passed += tests.filter((t) => t.status === 'passed').length;
  failed += tests.filter((t) => t.status === 'failed').length;
}
console.log([passed, failed, ...unfinished].join(' '));

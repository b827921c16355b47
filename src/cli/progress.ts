/** A one-line progress bar redrawn in place on a terminal. */
export class ProgressLine {
  private last = 0;

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(text: string, fraction: number, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const width = 24;
    const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
    const bar = `[${'█'.repeat(filled)}${'·'.repeat(width - filled)}]`;
    this.out.write(`\r\x1b[2K${bar} ${text}`);
  }

  done(text: string): void {
    this.out.write(`\r\x1b[2K${text}\n`);
  }
}

/**
 * Progress for a log rather than a terminal (output piped to a file, or --json): a plain line at
 * most every `everyMs`, so a long epoch shows it is alive without flooding the log.
 */
export class ProgressLog {
  private last = Date.now();

  constructor(
    private readonly write: (line: string) => void,
    private readonly everyMs = 30_000,
  ) {}

  update(text: string): void {
    const now = Date.now();
    if (now - this.last < this.everyMs) return;
    this.last = now;
    this.write(text);
  }
}

/** Where a run's progress goes: a bar on a terminal, else throttled lines (stderr under --json, whose stdout is JSON only). */
export function progressReporter(json: boolean): { update(text: string, fraction: number): void; done(text: string): void } {
  if (!json && process.stdout.isTTY) return new ProgressLine(process.stdout);
  const log = new ProgressLog((line) => (json ? console.error(`webgpu-dl: ${line}`) : console.log(line)));
  return { update: (text) => log.update(text), done: (text) => console.log(text) };
}

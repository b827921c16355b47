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

/** A one-line progress bar on stderr, redrawn in place; silent when stderr is not a terminal except for phase starts and ends. */
export class Progress {
  private readonly tty = process.stderr.isTTY;
  private lastDraw = 0;
  constructor(private readonly label: string, private readonly total: number) {
    if (!this.tty) process.stderr.write(`${label} …\n`);
  }

  update(done: number, detail = ''): void {
    if (!this.tty || Date.now() - this.lastDraw < 100) return;
    this.lastDraw = Date.now();
    const width = 30;
    const filled = Math.round((Math.min(done, this.total) / this.total) * width);
    process.stderr.write(`\r${this.label.padEnd(28)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ${detail}\x1b[K`);
  }

  finish(summary: string): void {
    process.stderr.write(`${this.tty ? '\r' : ''}${this.label.padEnd(28)} ${summary}${this.tty ? '\x1b[K' : ''}\n`);
  }
}

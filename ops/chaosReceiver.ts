import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One line of a receiver's log: what it was sent and what it answered. */
export interface ReceiverLogLine {
  at: number;
  eventId: string;
  webhookId: string;
  status: number;
}

/**
 * A webhook receiver for the chaos soak: a real HTTP server on 127.0.0.1 that answers each request
 * with `status()` and appends what it saw to its own log file, one JSON line per request. It can go
 * down (refuse connections) and come back on the same port.
 */
export class ChaosReceiver {
  private constructor(private readonly server: http.Server, readonly url: string, readonly logFile: string) {}

  static async start(logFile: string, status: () => number): Promise<ChaosReceiver> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const answer = status();
        let eventId = '';
        try {
          eventId = String(JSON.parse(Buffer.concat(chunks).toString('utf8')).data.eventId);
        } catch {
          // logged with no event id: the judge counts it as unexpected
        }
        const line: ReceiverLogLine = { at: Date.now(), eventId, webhookId: String(req.headers['webhook-id'] ?? ''), status: answer };
        fs.appendFileSync(logFile, `${JSON.stringify(line)}\n`);
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fs.writeFileSync(logFile, '');
    return new ChaosReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`, logFile);
  }

  /** Refuses connections until up(). */
  async down(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  async up(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(Number(new URL(this.url).port), '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    if (this.server.listening) await this.down();
  }

  /** The log as written, read back from the file. */
  read(): ReceiverLogLine[] {
    return fs.readFileSync(this.logFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as ReceiverLogLine);
  }
}

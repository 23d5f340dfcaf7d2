import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * One HTTP/1.1 request written byte for byte on a socket, so tests can send what fetch and
 * node:http refuse to (CR/LF in header values, invalid UTF-8). Rejects when no complete answer
 * arrives within `timeoutMs`: a hang is a failure, not a wait.
 */
export function rawRequest(
  url: string,
  request: { method: string; path: string; headers: [string, string][]; body?: Buffer; /** Default: the URL's host and port. */ host?: string },
  timeoutMs = 10_000,
): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const body = request.body ?? Buffer.alloc(0);
  const head = [`${request.method} ${request.path} HTTP/1.1`, `host: ${request.host ?? `${hostname}:${port}`}`, 'connection: close', `content-length: ${body.length}`,
    ...request.headers.map(([name, value]) => `${name}: ${value}`)].join('\r\n');
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`no answer to ${request.method} ${request.path} within ${timeoutMs} ms`));
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // The server may answer (413, 400) and close before reading the whole body; what it sent still counts.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (!match || split < 0) return reject(new Error(`no complete answer to ${request.method} ${request.path}: ${JSON.stringify(text.slice(0, 200))}`));
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, split).split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(match[1]), headers, body: Buffer.from(text.slice(split + 4), 'latin1').toString('utf8') });
    });
    socket.write(Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), body]));
  });
}

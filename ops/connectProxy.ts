import http from 'node:http';
import net from 'node:net';
import { freeLowPort } from './ports.ts';

/**
 * An HTTP CONNECT proxy on 127.0.0.1, a few lines of node:http: it records each CONNECT's target
 * and Proxy-Authorization, answers 407 without the expected credentials, and pipes the tunnel.
 * `stop` closes it and every tunnel; `start` listens again on the same port.
 */
export class ConnectProxy {
  readonly connects: { target: string; proxyAuthorization: string | undefined }[] = [];
  private server: http.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  private constructor(readonly port: number, private readonly credentials: string | undefined) {}

  /** `credentials`: `user:password` the proxy requires; none when unset. */
  static async start(credentials?: string): Promise<ConnectProxy> {
    const proxy = new ConnectProxy(await freeLowPort(), credentials);
    await proxy.listen();
    return proxy;
  }

  /** `http://[user:password@]127.0.0.1:port`, as HERALD_EGRESS_PROXY takes it. */
  url(credentials = this.credentials): string {
    return `http://${credentials ? `${credentials}@` : ''}127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    const server = http.createServer((_req, res) => res.writeHead(405).end());
    server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
      this.track(client);
      const proxyAuthorization = req.headers['proxy-authorization'];
      this.connects.push({ target: req.url!, proxyAuthorization });
      if (this.credentials && proxyAuthorization !== `Basic ${Buffer.from(this.credentials).toString('base64')}`) {
        client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n');
        return;
      }
      const { hostname, port } = new URL(`http://${req.url}`);
      const upstream = this.track(net.connect(Number(port), hostname.replace(/^\[(.*)\]$/, '$1'), () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client).pipe(upstream);
      }));
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
    this.server = undefined;
  }

  private track(socket: net.Socket): net.Socket {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    return socket;
  }
}

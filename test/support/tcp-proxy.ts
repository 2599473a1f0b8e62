import { readFileSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy in front of a server, for cutting connections the way a proxy or a changing network
 * does: `cut()` destroys every connection open through it at once; later ones pass again, unless
 * `refusing` is set (a server that is down).
 */
export class TcpProxy {
  private server?: Server;
  private readonly open = new Set<Socket>();
  /** Connections accepted so far. */
  connections = 0;
  /** The local port of each connection made to the target, in order. */
  readonly upstreamPorts: number[] = [];
  /** While set, each new connection is closed at once. */
  refusing = false;

  constructor(private readonly target: { host: string; port: number }) {}

  /** `http://127.0.0.1:port` of the proxy. */
  async start(): Promise<string> {
    this.server = createServer((client) => {
      if (this.refusing) return void client.destroy();
      this.connections++;
      const upstream = new Socket();
      upstream.connect(this.target.port, this.target.host, () => this.upstreamPorts.push(upstream.localPort!));
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        this.open.add(from);
        from.pipe(to);
        from.on('error', () => to.destroy());
        from.on('close', () => {
          this.open.delete(from);
          to.destroy();
        });
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  /**
   * Destroys every open connection, both sides, as a dropped network would; with `reset`, the
   * target gets a TCP reset instead of an orderly close, as from a client that went away.
   */
  cut(reset = false): void {
    for (const socket of this.open) {
      if (reset && this.upstreamPorts.includes(socket.localPort!)) socket.resetAndDestroy();
      else socket.destroy();
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/** The host and port of an `http://host:port` base URL. */
export function addressOf(baseUrl: string): { host: string; port: number } {
  const url = new URL(baseUrl);
  return { host: url.hostname, port: Number(url.port) };
}

/**
 * Whether the server listening on `serverPort` has closed its side of the connection from
 * `clientPort` (Linux: its socket is neither ESTABLISHED nor CLOSE_WAIT in /proc/net/tcp): the
 * server's process has seen the client go, not only the network.
 */
export function serverClosed(serverPort: number, clientPort: number): boolean {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  const lines = ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) => readFileSync(file, 'utf8').split('\n').slice(1));
  for (const line of lines) {
    const [, local, remote, state] = line.trim().split(/\s+/);
    if (local?.endsWith(`:${hex(serverPort)}`) && remote?.endsWith(`:${hex(clientPort)}`)) return state !== '01' && state !== '08';
  }
  return true;
}

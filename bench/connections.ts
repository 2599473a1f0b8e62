/** The load generator's HTTP plumbing: connections opened ahead of requests, and whole bodies. */
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';

export function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (text: string) => (body += text));
    res.on('end', () => resolve(body));
    res.on('error', reject);
  });
}

/** One connection from 127.0.0.(1 + index % sourceAddresses), so ephemeral ports never run short. */
export function connectSocket(url: URL, index: number, sourceAddresses: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({
      host: url.hostname,
      port: Number(url.port),
      localAddress: `127.0.0.${1 + (index % sourceAddresses)}`,
      noDelay: true,
    });
    socket.once('connect', () => {
      socket.off('error', reject);
      // The request that takes the socket over reports its errors; until then one must not crash us.
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** `count` connections, `concurrency` connects at a time (the accept queue never overflows into SYN retries). */
export async function openConnections(url: URL, count: number, concurrency: number, sourceAddresses: number): Promise<Socket[]> {
  const sockets: Socket[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      sockets[index] = await connectSocket(url, index, sourceAddresses);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  } catch (error) {
    for (const socket of sockets) socket?.destroy();
    throw error;
  }
  return sockets;
}

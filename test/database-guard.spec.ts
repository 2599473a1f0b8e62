/**
 * The database guard, with a TCP proxy between the service and PostgreSQL: a reply lost after a
 * commit is not retried into a second row, a connection lost before COMMIT is retried and counted,
 * and a hung server opens the circuit breaker until it answers again.
 */
import { expect } from 'expect';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startApp, TestApp } from './support/app.js';
import { createTestDatabase, dropTestDatabase, query } from './support/database.js';

/**
 * Forwards PostgreSQL's wire protocol unchanged, and can: cut a connection right after the server
 * completed a command whose tag matches (the reply never reaches the service), or hang, accepting
 * connections and never answering, like a server that is stuck.
 */
class PostgresProxy {
  connections = 0;
  hanging = false;
  private cutAfter?: RegExp;
  private readonly sockets = new Set<net.Socket>();
  private readonly server = net.createServer((client) => this.accept(client));

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  /** The next reply that completes a command tagged like `tag` ("INSERT 0 1", "UPDATE 1") is dropped with its connection. */
  cutAfterNext(tag: RegExp): void {
    this.cutAfter = tag;
  }

  /** Hangs: open connections drop, new ones are accepted and never answered. */
  hang(): void {
    this.hanging = true;
    for (const socket of this.sockets) socket.destroy();
  }

  recover(): void {
    this.hanging = false;
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
  }

  private accept(client: net.Socket): void {
    this.connections++;
    this.track(client);
    if (this.hanging) return;
    const upstream = net.connect(this.target);
    this.track(upstream);
    client.pipe(upstream);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    // Server messages: a type byte, then a length that counts itself.
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      let forward = 0;
      while (pending.length - forward >= 5) {
        const size = 1 + pending.readInt32BE(forward + 1);
        if (pending.length - forward < size) break;
        const type = String.fromCharCode(pending[forward]);
        const tag = type === 'C' ? pending.subarray(forward + 5, forward + size - 1).toString() : '';
        if (this.cutAfter?.test(tag)) {
          this.cutAfter = undefined;
          client.write(pending.subarray(0, forward));
          client.destroy();
          upstream.destroy();
          return;
        }
        forward += size;
      }
      client.write(pending.subarray(0, forward));
      pending = pending.subarray(forward);
    });
  }
}

function counter(metrics: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('database guard', () => {
  let db: { name: string; url: string };
  let proxy: PostgresProxy;
  let t: TestApp;
  const metrics = async () => (await fetch(`${t.baseUrl}/metrics`)).text();
  const post = (path: string, body: unknown, method = 'POST') =>
    fetch(`${t.baseUrl}${path}`, { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

  before(async () => {
    db = await createTestDatabase();
    const direct = new URL(db.url);
    proxy = new PostgresProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    const viaProxy = new URL(db.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(await proxy.start());
    t = await startApp(
      // A connect timeout short enough for a quick test, long enough for a loaded machine's start-up.
      { DB_CONNECT_TIMEOUT_MS: '1500', DB_BREAKER_THRESHOLD: '2', DB_BREAKER_COOLDOWN_MS: '2000' },
      { name: db.name, url: viaProxy.toString() },
    );
  });
  after(async () => {
    await t?.close();
    await proxy?.close();
    await dropTestDatabase(db.name);
  });

  it('does not run a single INSERT again when its reply is lost after the commit: one row', async () => {
    const title = 'lost reply';
    proxy.cutAfterNext(/^INSERT/);
    const response = await post('/v1/sessions', { title });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ code: 'database_unavailable' });
    // Committed once, and only once: the service did not try again on a connection it had used.
    expect(await query(db.url, 'SELECT id FROM sessions WHERE title = $1', [title])).toHaveLength(1);
    expect(counter(await metrics(), 'db_retries_total', { operation: 'create_session' })).toBe(0);
  });

  it('runs a transaction again when its connection is lost before COMMIT, and counts the retry', async () => {
    const created = await post('/v1/sessions', { title: 'before' });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    proxy.cutAfterNext(/^UPDATE/);
    const renamed = await post(`/v1/sessions/${id}`, { title: 'after' }, 'PATCH');
    expect(renamed.status).toBe(200);
    expect(await query(db.url, 'SELECT title FROM sessions WHERE id = $1', [id])).toEqual([{ title: 'after' }]);
    expect(counter(await metrics(), 'db_retries_total', { operation: 'rename_session', reason: 'connection_error' })).toBe(1);
  });

  it('opens the breaker on a hung server, answers 503 without trying it, and closes once it answers', async () => {
    proxy.hang();
    // Each request waits for a connect timeout until the breaker has seen DB_BREAKER_THRESHOLD of them.
    while (!(await metrics()).includes('db_circuit_state 2')) {
      const r = await post('/v1/sessions', {});
      expect(r.status).toBe(503);
    }
    const tried = proxy.connections;
    const refused = await post('/v1/sessions', {});
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ code: 'database_unavailable' });
    const ready = await fetch(`${t.baseUrl}/health/ready`);
    expect(ready.status).toBe(503);
    expect(JSON.stringify(await ready.json())).toContain('circuit breaker open');
    expect(proxy.connections).toBe(tried);

    proxy.recover();
    // Readiness probes the database once the cooldown is over, and closes the breaker.
    while ((await fetch(`${t.baseUrl}/health/ready`)).status !== 200);
    expect(await metrics()).toContain('db_circuit_state 0');
    expect((await post('/v1/sessions', {})).status).toBe(201);
  });
});

import { Logger, OnApplicationShutdown } from '@nestjs/common';
import { makeCounterProvider, makeGaugeProvider } from '@willsoto/nestjs-prometheus';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Counter, Gauge } from 'prom-client';

/** Told what arrives on a channel, and when notifications may have been missed (the connection was lost and is back). */
export interface ChannelListener {
  notified(payload: string): void;
  resync(): void;
}

export const listenMetrics = [
  makeGaugeProvider({
    name: 'db_listen_down',
    help: 'The LISTEN connection is lost while streams follow turns of other instances (1): their live events wait for it',
  }),
  makeCounterProvider({
    name: 'db_listen_reconnects_total',
    help: 'LISTEN connections opened again after one was lost; the followers then read what they missed',
  }),
];

const CHANNEL = /^[a-z0-9_]{1,63}$/;
const RECONNECT_MS = 1_000;

/**
 * PostgreSQL `LISTEN` for the whole instance, on ONE dedicated connection — not a pooled one (a
 * pooled connection goes back to the pool, and PgBouncer in transaction mode does not carry LISTEN
 * at all): DATABASE_LISTEN_URL, or DATABASE_URL. It is opened on first use; each channel is
 * listened to once however many streams follow it, and unlistened when the last one leaves. A lost
 * connection is opened again, every channel listened to again, and every listener told to resync.
 */
export class DatabaseNotifications implements OnApplicationShutdown {
  private readonly logger = new Logger(DatabaseNotifications.name);
  private readonly channels = new Map<string, { listeners: Set<ChannelListener>; listening: Promise<unknown> }>();
  private client?: Promise<pg.Client>;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly metrics: { down: Gauge<string>; reconnects: Counter<string> },
  ) {}

  /** Listens to `channel` until the returned function is called; resolves once LISTEN has taken effect. */
  async listen(channel: string, listener: ChannelListener): Promise<() => void> {
    if (!CHANNEL.test(channel)) throw new Error(`not a channel name: ${channel}`);
    let entry = this.channels.get(channel);
    if (!entry) {
      entry = { listeners: new Set(), listening: this.connected().then((client) => client.query(`LISTEN "${channel}"`)) };
      this.channels.set(channel, entry);
    }
    entry.listeners.add(listener);
    try {
      await entry.listening;
    } catch (error) {
      this.leave(channel, listener);
      throw error;
    }
    return () => this.leave(channel, listener);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    const client = await this.client?.catch(() => undefined);
    await client?.end().catch(() => undefined);
  }

  private leave(channel: string, listener: ChannelListener): void {
    const entry = this.channels.get(channel);
    if (!entry?.listeners.delete(listener) || entry.listeners.size > 0) return;
    this.channels.delete(channel);
    void this.client
      ?.then((client) => client.query(`UNLISTEN "${channel}"`))
      .catch(() => undefined /* a lost connection listens to nothing anyway */);
  }

  private connected(): Promise<pg.Client> {
    this.client ??= this.connect().catch((error: unknown) => {
      this.client = undefined;
      throw error;
    });
    return this.client;
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'agent-runtime-listen', keepAlive: true });
    client.on('notification', (message) => {
      for (const listener of this.channels.get(message.channel)?.listeners ?? []) listener.notified(message.payload ?? '');
    });
    client.on('error', (error) => this.logger.warn({ msg: 'the LISTEN connection failed', error: error.message }));
    client.on('end', () => void this.lost(client));
    await client.connect();
    return client;
  }

  /** The connection ended: open another while anyone listens, listen again, and let the listeners catch up. */
  private async lost(client: pg.Client): Promise<void> {
    if (this.stopped || (await this.client?.catch(() => undefined)) !== client) return;
    this.client = undefined;
    if (this.channels.size > 0) this.metrics.down.set(1);
    while (!this.stopped && this.channels.size > 0) {
      try {
        const again = await this.connected();
        for (const channel of this.channels.keys()) await again.query(`LISTEN "${channel}"`);
        this.metrics.reconnects.inc();
        this.logger.log({ msg: 'the LISTEN connection is back', channels: this.channels.size });
        for (const { listeners } of this.channels.values()) for (const listener of listeners) listener.resync();
        break;
      } catch {
        await sleep(RECONNECT_MS, undefined, { ref: false });
      }
    }
    this.metrics.down.set(0);
  }
}

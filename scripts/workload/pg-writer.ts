// A live writer for PostgreSQL moves: commits one row at a time through a DNS name (resolved at the
// authoritative server, like a client with a short TTL), reconnecting and re-resolving after any error. It
// records every acknowledged commit (id, the server that acknowledged it, when the statement was sent and when
// the acknowledgement came back), so a test can count them on the new primary afterwards.
import { Client, type ClientConfig } from 'pg';
import { lookupA } from '../../activities/dns';

export interface PgWriterOptions {
  dns: { server: string; port: number; name: string };
  port: number;
  database: string;
  user: string;
  password: string;
  /** Table with (id bigserial primary key, seq bigint, at timestamptz). */
  table: string;
  /** Pause between commits; 0 = as fast as the server acknowledges. */
  intervalMs?: number;
  /** node-postgres TLS options (the sandbox's servers take TLS logins only: sandboxPgSsl). */
  ssl?: ClientConfig['ssl'];
}

export interface PgAck {
  id: number;
  seq: number;
  /** inet_server_addr() of the session: which server acknowledged the commit. */
  address: string;
  sentAt: number;
  ackAt: number;
}

export interface PgWriter {
  readonly acks: PgAck[];
  /** Failed attempts: connection refused, read-only, shutting down... (not acknowledged, so not counted). */
  readonly failures: { at: number; address: string | null; message: string }[];
  /** Longest time without an acknowledgement, between the first and the last one. */
  longestGapMs(): { ms: number; after: PgAck | null; before: PgAck | null };
  stop(): Promise<void>;
}

export function startPgWriter(o: PgWriterOptions): PgWriter {
  const acks: PgAck[] = [];
  const failures: PgWriter['failures'] = [];
  let stopped = false;
  let seq = 0;
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const loop = (async () => {
    while (!stopped) {
      let client: Client | null = null;
      let address: string | null = null;
      try {
        [address] = await lookupA(o.dns);
        if (!address) throw new Error(`${o.dns.name} does not resolve`);
        client = new Client({ host: address, port: o.port, database: o.database, user: o.user, password: o.password, ssl: o.ssl ?? false, connectionTimeoutMillis: 2000 });
        client.on('error', () => undefined);
        await client.connect();
        while (!stopped) {
          const n = ++seq;
          const sentAt = Date.now();
          const r = await client.query<{ id: string; server: string }>(
            `insert into ${o.table} (seq) values ($1) returning id, host(inet_server_addr()) as server`,
            [n],
          );
          acks.push({ id: Number(r.rows[0].id), seq: n, address: r.rows[0].server, sentAt, ackAt: Date.now() });
          if (o.intervalMs) await pause(o.intervalMs);
        }
      } catch (err) {
        failures.push({ at: Date.now(), address, message: (err as Error).message });
        await pause(20);
      } finally {
        await client?.end().catch(() => undefined);
      }
    }
  })();
  return {
    acks,
    failures,
    longestGapMs() {
      let best = { ms: 0, after: null as PgAck | null, before: null as PgAck | null };
      for (let i = 1; i < acks.length; i++) {
        const ms = acks[i].ackAt - acks[i - 1].ackAt;
        if (ms > best.ms) best = { ms, after: acks[i - 1], before: acks[i] };
      }
      return best;
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

// Which keys a live Redis server changes while it is read: Redis's client-side caching in broadcast mode
// (CLIENT TRACKING ON BCAST, Redis 6+) sends the name of every key any client modifies, expires or evicts, and a
// null message when a FLUSHDB or FLUSHALL empties a db, to a connection subscribed to `__redis__:invalidate`
// (REDIRECT, so RESP2 suffices). No setting of the server changes and nothing is written to it; the cost is one
// message per changed key while tracking lasts.
//
// What it cannot see, checked instead: SWAPDB and DEBUG (RELOAD, …) change keys without a message (run here on
// Redis 7.0.15), so their calls are counted (INFO commandstats) from the start, and a CONFIG RESETSTAT that
// would hide them is seen by total_commands_processed going down. Messages carry no db: a changed name is read
// again in every db.
import type { RedisEndpoint } from './endpoint';
import { type Reply, RespConnection, RespConnectionError, RespError } from './resp';

/** Tracking is not possible on this server (Redis before 6, an ACL without CLIENT or the channel). */
export class TrackingUnavailable extends Error {}

/** What a refusal says to do about it. */
const GRANT = ' (to be read ahead, the user needs CLIENT ID and CLIENT TRACKING, SUBSCRIBE on __redis__:invalidate and INFO; Redis 6 or later)';

/** Commands that change keys without an invalidation message. */
const SILENT_COMMANDS = ['swapdb', 'debug'];

interface Counters {
  silent: Record<string, number>;
  processed: number;
}

async function counters(c: RespConnection): Promise<Counters> {
  const replies = await c.exec([['INFO', 'commandstats'], ['INFO', 'stats']]);
  // Unread, every count would stay 0: a SWAPDB or DEBUG would go unseen.
  const denied = replies.find((r) => r instanceof RespError) as RespError | undefined;
  if (denied) throw new TrackingUnavailable(`INFO commandstats and stats (to count SWAPDB and DEBUG): ${denied.message}`);
  const [stats, info] = replies.map(String);
  const silent: Record<string, number> = {};
  for (const cmd of SILENT_COMMANDS) silent[cmd] = Number(new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
  return { silent, processed: Number(/^total_commands_processed:(\d+)/m.exec(info)?.[1] ?? 0) };
}

export class KeyTracker {
  /** Changed since the last take(): latin1 name → the name's bytes. */
  private changed = new Map<string, Buffer>();
  private flushedSinceTake = false;
  /** Why the messages can no longer be trusted to be complete: a connection failed, or too many changes waited. */
  private lost: string | null = null;
  messages = 0;

  private constructor(
    private readonly label: string,
    private readonly subscriber: RespConnection,
    private readonly tracking: RespConnection,
    private readonly start: Counters,
    /** Changed keys waiting to be read again beyond which following stops (see onMessage). */
    private readonly maxPending: number,
  ) {}

  /** Subscribes, then turns tracking on for every key; TrackingUnavailable names why it cannot, and what to grant. */
  static async open(ep: RedisEndpoint, o: { maxPending?: number } = {}): Promise<KeyTracker> {
    const label = ep.label ?? `${ep.host}:${ep.port}`;
    const conns: RespConnection[] = [];
    try {
      const subscriber = await RespConnection.open(ep, 0);
      conns.push(subscriber);
      const tracking = await RespConnection.open(ep, 0);
      conns.push(tracking);
      const id = await subscriber.call('CLIENT', 'ID');
      let tracker: KeyTracker | null = null;
      const early: Reply[][] = [];
      subscriber.onMessages(
        (m) => (tracker ? tracker.onMessage(m) : early.push(m)),
        (err) => tracker?.onLost(err),
      );
      tracking.onMessages(() => undefined, (err) => tracker?.onLost(err)); // tracking (and its messages) ends with this connection
      const [sub] = await subscriber.exec([['SUBSCRIBE', '__redis__:invalidate']]);
      if (sub instanceof RespError) throw new TrackingUnavailable(`SUBSCRIBE __redis__:invalidate: ${sub.message}`);
      const start = await counters(tracking);
      const [on] = await tracking.exec([['CLIENT', 'TRACKING', 'ON', 'BCAST', 'REDIRECT', String(id)]]);
      if (on instanceof RespError) throw new TrackingUnavailable(`CLIENT TRACKING ON BCAST: ${on.message}`);
      tracker = new KeyTracker(label, subscriber, tracking, start, o.maxPending ?? 1_000_000);
      for (const m of early) tracker.onMessage(m);
      return tracker;
    } catch (err) {
      for (const c of conns) c.close();
      if (err instanceof TrackingUnavailable) throw new TrackingUnavailable(`${label}: ${err.message}${GRANT}`);
      if (err instanceof RespConnectionError && /ERR|NOPERM|unknown/i.test(err.message)) throw new TrackingUnavailable(`${err.message}${GRANT}`);
      throw err;
    }
  }

  private onMessage(m: Reply[]): void {
    this.messages++;
    if (this.lost) return;
    const keys = m[2];
    if (keys === null || keys === undefined) {
      this.flushedSinceTake = true;
      return;
    }
    for (const k of Array.isArray(keys) ? keys : [keys]) {
      if (Buffer.isBuffer(k)) this.changed.set(k.toString('latin1'), Buffer.from(k));
    }
    if (this.changed.size > this.maxPending) {
      // Writes outrun the reading again: stop following; the frozen source is read again whole instead.
      this.lost = `more than ${this.maxPending} changed keys waiting to be read again on ${this.label}`;
      this.changed = new Map();
    }
  }

  private onLost(err: Error): void {
    this.lost ??= `the tracking connection to ${this.label} failed (${err.message}): changes may have been missed`;
  }

  /** The names changed since the last call, and whether a db was emptied meanwhile (then everything changed). */
  take(): { keys: Buffer[]; flushed: boolean } {
    const keys = [...this.changed.values()];
    const flushed = this.flushedSinceTake;
    this.changed = new Map();
    this.flushedSinceTake = false;
    return { keys, flushed };
  }

  /**
   * Every message about a change made before this call has arrived: broadcast messages leave at the end of an
   * event-loop turn of the server, so two PINGs in turn on the subscriber (answered after whatever the server
   * queued for it) put one whole turn behind them.
   */
  async barrier(): Promise<void> {
    if (this.lost) return; // no messages to wait for: incomplete() says so, and the source is read again whole
    await this.subscriber.call('PING');
    await this.subscriber.call('PING');
  }

  /**
   * Why the messages since open() may be incomplete, or null: the connection failed, tracking is off or its
   * redirection broken, a SWAPDB or DEBUG ran, or the statistics were reset (so a count could not tell).
   */
  async incomplete(): Promise<string | null> {
    if (this.lost) return this.lost;
    // RESP2: flags, [flag…], redirect, id, prefixes, [prefix…]
    const info = (await this.tracking.call('CLIENT', 'TRACKINGINFO')) as Reply[];
    const f = (Array.isArray(info[1]) ? info[1] : []).map(String);
    if (!f.includes('on') || !f.includes('bcast') || f.includes('broken_redirect')) return `tracking on ${this.label} is no longer on (flags: ${f.join(' ')})`;
    const now = await counters(this.tracking);
    if (now.processed < this.start.processed) return `the statistics of ${this.label} were reset (CONFIG RESETSTAT): a SWAPDB or DEBUG could not be told`;
    for (const cmd of SILENT_COMMANDS) {
      if (now.silent[cmd] !== this.start.silent[cmd]) return `${cmd.toUpperCase()} ran on ${this.label} (${now.silent[cmd] - this.start.silent[cmd]} calls): it changes keys without telling`;
    }
    return null;
  }

  close(): void {
    this.subscriber.close();
    this.tracking.close();
  }
}

// A real job system for Redis moves: a BullMQ producer adding jobs with ids of its own at a steady rate and
// workers processing them, all reaching Redis through a DNS name resolved at the sandbox's authoritative server
// at every (re)connect, like the file and PostgreSQL writers. A switch of the name is followed within a poll:
// queue and workers are rebuilt on the new address.
//
// Every job the producer saw acknowledged is in `enqueued`; every completion is a line appended to a local file
// (`<jobId> <address> <epoch ms>`), outside the Redis being moved, so `countJobs` can tell jobs lost (enqueued,
// never completed) from jobs run twice (completed more than once: processed on the old server after the dump,
// then again on the new one).
//
// An HTTP control endpoint on loopback lets a plan's hooks pause and resume it: POST /pause stops the producer,
// pauses the queue (a flag in Redis: it moves with the data) and returns once no job is active; POST /resume
// undoes both (on the server the name points at now: it looks the name up first); GET /status → {paused, active,
// waiting, completed, ...}. `redis-jobs-ctl.ts` calls them.
//
//   npx tsx scripts/workload/redis-jobs.ts --log FILE [--control-port 7390] [--rate 20]   (sandbox name and port)
import { appendFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue, Worker } from 'bullmq';
import { lookupA } from '../../activities/dns';

export interface JobSystemOptions {
  dns: { server: string; port: number; name: string };
  /** Redis port at whichever address the name points to. */
  port: number;
  password?: string;
  queue?: string;
  /** Jobs added per second. Default 20. */
  ratePerSec?: number;
  /** Worker processes (BullMQ Workers) and jobs each runs at once. Defaults 2 and 2. */
  workers?: number;
  concurrency?: number;
  /** Time a job takes. Default 20 ms. */
  jobMs?: number;
  /** Append-only completion log (a local file). */
  completionLog: string;
  /** Where the control endpoint listens. Default 127.0.0.1, a free port. */
  control?: { host?: string; port?: number };
  /** How often the name is resolved again. Default 250 ms. */
  resolveEveryMs?: number;
}

export interface JobStatus {
  paused: boolean;
  /** Jobs being processed right now. */
  active: number;
  /** Jobs waiting (including those held by the pause) or delayed. */
  waiting: number;
  /** Completions in the local log. */
  completed: number;
  failed: number;
  enqueued: number;
  /** Address the name resolved to when the current connections were made. */
  address: string | null;
  reconnects: number;
  errors: number;
}

export interface JobSystem {
  /** http://127.0.0.1:PORT of the control endpoint. */
  url: string;
  /** Where the name pointed when the current connections were made. */
  readonly address: string | null;
  readonly enqueued: string[];
  pause(timeoutMs?: number): Promise<JobStatus>;
  resume(): Promise<JobStatus>;
  /** The producer stops for good; workers go on (to drain the queue before counting). */
  stopProducing(): void;
  status(): Promise<JobStatus>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startJobSystem(o: JobSystemOptions): Promise<JobSystem> {
  const name = o.queue ?? 'cutover-jobs';
  const enqueued: string[] = [];
  let seq = 0;
  let stopped = false;
  let producerDone = false;
  let producing = true;
  let paused = false;
  let address: string | null = null;
  let queue: Queue | null = null;
  let workers: Worker[] = [];
  let reconnects = 0;
  let errors = 0;

  const connection = (host: string) => ({
    host,
    port: o.port,
    password: o.password,
    maxRetriesPerRequest: null, // BullMQ workers block on Redis; they must not give up a command
    retryStrategy: () => 200,
    lazyConnect: false,
  });

  function connect(to: string): void {
    const old = { queue, workers, paused: workers.length > 0 && paused };
    // The old connections are closed in the background, forced: the old server may be gone, or blocking its
    // clients under CLIENT PAUSE WRITE until its deadline, and a job it held is not ours to finish any more.
    void Promise.allSettled([...old.workers.map((w) => w.close(true)), old.queue?.close()]);
    address = to;
    const q = new Queue(name, { connection: connection(to) });
    q.on('error', () => errors++);
    const ws = Array.from({ length: o.workers ?? 2 }, () => {
      const w = new Worker(
        name,
        async (job) => {
          await sleep(o.jobMs ?? 20);
          appendFileSync(o.completionLog, `${job.id} ${to} ${Date.now()}\n`);
          return { done: job.id };
        },
        { connection: connection(to), concurrency: o.concurrency ?? 2, removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } },
      );
      w.on('error', () => errors++);
      // Paused here before the switch: stay paused on the new server until resumed.
      if (old.paused) void w.pause(true);
      return w;
    });
    queue = q;
    workers = ws;
    if (old.queue) reconnects++;
  }

  // Follow the name: resolve now, then again every resolveEveryMs; rebuild on a new address.
  const first = (await lookupA(o.dns))[0];
  if (!first) throw new Error(`${o.dns.name} does not resolve at ${o.dns.server}:${o.dns.port}`);
  connect(first);
  const follower = (async () => {
    while (!stopped) {
      await sleep(o.resolveEveryMs ?? 250);
      const now = await lookupA(o.dns).then((a) => a[0], () => undefined);
      if (now && now !== address && !stopped) connect(now);
    }
  })();

  const producer = (async () => {
    const interval = 1000 / (o.ratePerSec ?? 20);
    while (!stopped && !producerDone) {
      const q = queue as Queue | null;
      if (!producing || !q) {
        await sleep(20);
        continue;
      }
      const id = `job-${++seq}`;
      try {
        await q.add('work', { seq }, { jobId: id });
        enqueued.push(id); // acknowledged by the server the name pointed at
      } catch {
        errors++;
      }
      await sleep(interval);
    }
  })();

  function completedCount(): number {
    try {
      return readFileSync(o.completionLog, 'utf8').split('\n').filter(Boolean).length;
    } catch {
      return 0;
    }
  }

  /** Within 3 s or an error: a server that blocks its clients (writes paused) must not hang a hook. */
  function soon<T>(p: Promise<T>, what: string): Promise<T> {
    return Promise.race([p, sleep(3000).then(() => Promise.reject(new Error(`${what}: no answer from ${address} in 3 s (writes paused there?)`)))]);
  }

  async function status(): Promise<JobStatus> {
    const q = queue as Queue | null;
    const c = q ? await soon(q.getJobCounts('active', 'waiting', 'delayed', 'prioritized', 'failed'), 'job counts') : {};
    return {
      paused: paused || (q ? await soon(q.isPaused(), 'paused flag') : false),
      active: c.active ?? 0,
      waiting: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0),
      completed: completedCount(),
      failed: c.failed ?? 0,
      enqueued: enqueued.length,
      address,
      reconnects,
      errors,
    };
  }

  async function pause(timeoutMs = 30_000): Promise<JobStatus> {
    producing = false;
    paused = true;
    await queue?.pause();
    // Local pauses wait for the jobs each worker is running; then nothing is active.
    await Promise.all(workers.map((w) => w.pause()));
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = await status();
      if (s.active === 0 || Date.now() > until) return s;
      await sleep(50);
    }
  }

  async function resume(): Promise<JobStatus> {
    // A move resumes the jobs right after switching the name: follow it now rather than at the next poll, so
    // the queue is resumed on the server the name points at (the other may be a paused or read-only old copy).
    const now = await lookupA(o.dns).then((a) => a[0], () => undefined);
    if (now && now !== address) connect(now);
    await queue?.resume();
    for (const w of workers) w.resume();
    paused = false;
    producing = true;
    return status();
  }

  const server = http.createServer((req, res) => {
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const route = `${req.method} ${req.url?.split('?')[0]}`;
    const action = route === 'POST /pause' ? pause() : route === 'POST /resume' ? resume() : route === 'GET /status' ? status() : null;
    if (!action) return reply(404, { error: `unknown: ${route} (POST /pause, POST /resume, GET /status)` });
    action.then((s) => reply(200, s), (err: Error) => reply(500, { error: err.message }));
  });
  await new Promise<void>((resolve) => server.listen(o.control?.port ?? 0, o.control?.host ?? '127.0.0.1', resolve));
  const where = server.address() as AddressInfo;

  return {
    url: `http://${where.address}:${where.port}`,
    get address() {
      return address;
    },
    enqueued,
    pause,
    resume,
    stopProducing() {
      producerDone = true;
    },
    status,
    async stop() {
      stopped = true;
      await new Promise((r) => server.close(r));
      await Promise.allSettled([producer, follower]);
      await Promise.allSettled([...workers.map((w) => w.close(true)), queue?.close()]);
    },
  };
}

export interface JobCount {
  enqueued: number;
  completed: number;
  /** Enqueued (acknowledged to the producer) and never completed. */
  lost: string[];
  /** Completed more than once. */
  duplicates: string[];
}

/** Jobs lost and jobs run twice, from the producer's acknowledged ids and the completion log. */
export function countJobs(enqueued: readonly string[], completionLog: string): JobCount {
  const times = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync(completionLog, 'utf8');
  } catch {
    // no completion yet
  }
  for (const line of text.split('\n')) {
    const id = line.split(' ')[0];
    if (id) times.set(id, (times.get(id) ?? 0) + 1);
  }
  return {
    enqueued: enqueued.length,
    completed: times.size,
    lost: enqueued.filter((id) => !times.has(id)),
    duplicates: [...times].filter(([, n]) => n > 1).map(([id]) => id),
  };
}

/** Each run of the given jobs, from the completion log: "<address> at <ISO time>", in log order. */
export function jobRuns(completionLog: string, ids: readonly string[]): Record<string, string[]> {
  const wanted = new Set(ids);
  const out: Record<string, string[]> = {};
  let text = '';
  try {
    text = readFileSync(completionLog, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const [id, address, at] = line.split(' ');
    if (id && wanted.has(id)) (out[id] ??= []).push(`${address} at ${new Date(Number(at)).toISOString()}`);
  }
  return out;
}

/**
 * Stops the producer and waits until every enqueued job has completed (or the time is up); returns the count
 * either way. The queue must not be paused.
 */
export async function drainJobs(sys: JobSystem, completionLog: string, timeoutMs = 30_000): Promise<JobCount> {
  sys.stopProducing();
  const until = Date.now() + timeoutMs;
  for (;;) {
    const c = countJobs(sys.enqueued, completionLog);
    if (c.lost.length === 0 || Date.now() > until) return c;
    await sleep(100);
  }
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  (async () => {
    // The sandbox's job system: redis.sandbox.internal on its BIND, Redis port 6379.
    const { loadSandbox } = await import('../sandbox/endpoints');
    const sb = loadSandbox();
    const log = flag('log');
    if (!log) throw new Error('usage: redis-jobs.ts --log FILE [--control-port N] [--rate N] [--name DNS_NAME]');
    const sys = await startJobSystem({
      dns: { server: sb.dns.server, port: sb.dns.port, name: flag('name') ?? `redis.${sb.dns.zone}` },
      port: sb.redis.source.port,
      completionLog: log,
      ratePerSec: Number(flag('rate') ?? 20),
      control: { port: Number(flag('control-port') ?? 0) },
    });
    console.log(JSON.stringify({ control: sys.url, completionLog: log }));
    const stop = () => void sys.stop().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  })().catch((err: Error) => {
    console.error(err.message);
    process.exit(2);
  });
}

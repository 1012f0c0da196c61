// fake-gcs-server with the filesystem backend (objects survive restarts) and the artifacts bucket.
import { existsSync } from 'node:fs';
import type { Component, Context, Health } from './component';
import { GCS } from './layout';
import { assertPortFree, livePid, SandboxError, startServer, stopPidFile } from './process';

const BASE = `http://${GCS.host}:${GCS.port}`;

async function get(path: string): Promise<number> {
  try {
    const res = await fetch(`${BASE}${path}`, { signal: AbortSignal.timeout(3_000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

export function gcs({ l, tools }: Context): Component {
  const name = 'gcs';
  const log = l.gcs.log;
  const bucketPath = `/storage/v1/b/${GCS.bucket}`;

  async function health(): Promise<Health> {
    const pid = livePid(l.gcs.pid, 'fake-gcs-server');
    if (!pid) return { ok: false, detail: 'not running', log };
    const status = await get(bucketPath);
    if (status === 0) return { ok: false, detail: `${BASE} refuses connections`, pid, log };
    if (status !== 200) return { ok: false, detail: `bucket ${GCS.bucket}: HTTP ${status}`, pid, log };
    return { ok: true, detail: `${BASE} bucket ${GCS.bucket}`, pid, log };
  }

  async function createBucket(): Promise<void> {
    const res = await fetch(`${BASE}/storage/v1/b?project=${GCS.projectId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: GCS.bucket }),
      signal: AbortSignal.timeout(5_000),
    });
    const body = await res.text();
    if (!res.ok && res.status !== 409) throw new SandboxError(name, `creating bucket ${GCS.bucket}: HTTP ${res.status} ${body}`, log);
  }

  return {
    name,
    log,
    health,
    async up() {
      let h = await health();
      if (h.ok) return { detail: BASE, note: 'already running' };
      let note = 'bucket created';
      if (h.pid && (await get('/storage/v1/b')) !== 200) {
        // Alive but not answering: start it over (the filesystem backend keeps the objects).
        await stopPidFile(l.gcs.pid, 'fake-gcs-server');
        h = { ...h, pid: undefined };
      }
      if (!h.pid) {
        await assertPortFree(name, GCS.host, GCS.port, log);
        if (!existsSync(tools.fakeGcsServer)) throw new SandboxError(name, `no binary at ${tools.fakeGcsServer}`, log);
        await startServer({
          component: name,
          cmd: tools.fakeGcsServer,
          args: ['-scheme', 'http', '-host', GCS.host, '-port', String(GCS.port), '-backend', 'filesystem',
            '-filesystem-root', l.gcs.root, '-external-url', BASE, '-log-level', 'warn'],
          logFile: log,
          pidFile: l.gcs.pid,
          ready: async () => (await get('/storage/v1/b')) === 200,
          timeoutMs: 15_000,
          notReady: `${BASE} not answering`,
        });
        note = 'started';
      }
      if ((await get(bucketPath)) !== 200) await createBucket();
      h = await health();
      if (!h.ok) throw new SandboxError(name, h.detail, log);
      return { detail: BASE, note };
    },
    down: () => stopPidFile(l.gcs.pid, 'fake-gcs-server'),
  };
}

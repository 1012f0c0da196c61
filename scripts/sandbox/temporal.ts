// The Temporal dev server (frontend + Web UI) with a SQLite file, so history survives restarts of the sandbox.
import { existsSync } from 'node:fs';
import type { Component, Context } from './component';
import { SEARCH_ATTRIBUTES, TEMPORAL } from './layout';
import { assertPortFree, livePid, probePort, SandboxError, startServer, stopPidFile, tryRun } from './process';

const ADDRESS = `${TEMPORAL.ip}:${TEMPORAL.port}`;

export function temporal({ l, tools }: Context): Component {
  const name = 'temporal';
  const log = l.temporal.log;

  const namespaceReady = () =>
    tryRun(
      tools.temporal,
      ['operator', 'namespace', 'describe', '--namespace', TEMPORAL.namespace, '--address', ADDRESS,
        '--command-timeout', '3s', '--disable-config-file', '--disable-config-env', '-o', 'json'],
      { timeoutMs: 5_000 },
    ).code === 0;

  async function health() {
    const pid = livePid(l.temporal.pid, 'temporal');
    if (!pid) return { ok: false, detail: 'not running', log };
    if (!(await probePort(TEMPORAL.ip, TEMPORAL.port))) return { ok: false, detail: `${ADDRESS} refuses connections`, pid, log };
    if (!(await probePort(TEMPORAL.ip, TEMPORAL.uiPort))) return { ok: false, detail: `Web UI port ${TEMPORAL.uiPort} closed`, pid, log };
    if (!namespaceReady()) return { ok: false, detail: `namespace ${TEMPORAL.namespace} not usable`, pid, log };
    return { ok: true, detail: `${ADDRESS} (UI :${TEMPORAL.uiPort})`, pid, log };
  }

  return {
    name,
    log,
    health,
    async up() {
      const h = await health();
      if (h.ok) return { detail: ADDRESS, note: 'already running' };
      let note = 'started';
      if (h.pid) {
        // Alive but not serving: a hung or half-started server. Start over; the SQLite file keeps the history.
        await stopPidFile(l.temporal.pid, 'temporal');
        note = 'restarted';
      }
      await assertPortFree(name, TEMPORAL.ip, TEMPORAL.port, log);
      if (!existsSync(tools.temporal)) throw new SandboxError(name, `no binary at ${tools.temporal}`, log);
      await startServer({
        component: name,
        cmd: tools.temporal,
        args: [
          'server', 'start-dev',
          '--ip', TEMPORAL.ip,
          '--port', String(TEMPORAL.port),
          '--ui-port', String(TEMPORAL.uiPort),
          '--db-filename', l.temporal.db,
          '--log-level', 'warn',
          // An activity scheduled by a workflow task goes straight back to the worker that completed it, not
          // through a poll: one round trip less between the fence and the promotion (write outage).
          '--dynamic-config-value', 'system.enableActivityEagerExecution=true',
          ...SEARCH_ATTRIBUTES.flatMap((sa) => ['--search-attribute', sa]),
        ],
        logFile: log,
        pidFile: l.temporal.pid,
        cwd: l.temporal.dir,
        ready: async () => (await probePort(TEMPORAL.ip, TEMPORAL.port)) && (await probePort(TEMPORAL.ip, TEMPORAL.uiPort)) && namespaceReady(),
        timeoutMs: 60_000,
        intervalMs: 250,
        notReady: `namespace ${TEMPORAL.namespace} not usable on ${ADDRESS}`,
      });
      return { detail: ADDRESS, note };
    },
    down: () => stopPidFile(l.temporal.pid, 'temporal', 15_000),
  };
}

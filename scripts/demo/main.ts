// `npm run demo`: the whole thing on a fresh machine. Starts the sandbox (installing what is missing) and a worker,
// then runs two data moves one after the other, each with a live writer going through a DNS name all along:
//   1. file-sync (file-sync.ts): the demo asset tree dc1 → dc2, switching assets.sandbox.internal;
//   2. postgres-failover (postgres-failover.ts): the sandbox's own PostgreSQL primary dc1 → dc2, switching
//      pg.sandbox.internal; every acknowledged commit is then looked up on the new primary.
// alice starts each move, bob (the demo approver) reviews each gate for 10 s and says go, and each final report is
// printed. CUTOVER_DEMO_FAST=1 skips the pauses and the copy's bandwidth limit. It runs again and again: each move
// first puts its servers back as the sandbox made them. Exit code 1 if a move did not complete or a commit was lost.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createWorker } from '../../workers/main';
import { UserError } from '../cli/errors';
import * as svc from '../cli/services';
import { loadSandbox, useSandboxWorkerEnv } from '../sandbox/endpoints';
import { type Demo, endInterruptedRuns, type MoveResult, say } from './drive';
import { fileSyncMove } from './file-sync';
import { postgresFailoverMove } from './postgres-failover';

/** Workflow ids of the demo's runs: each move's plan is named <what>-<stamp>. */
const DEMO_RUN = /^(file-sync-assets|postgres-failover-pg)-\d{14}$/;

async function main(): Promise<void> {
  say('starting the sandbox (first run installs servers; later runs take seconds)');
  const up = spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, '..', 'sandbox', 'main.ts'), 'up'], { stdio: 'inherit' });
  if (up.status !== 0) throw new Error('sandbox:up failed (see above)');
  const sb = loadSandbox();
  // The worker below and the CLI services read their settings from the environment: the sandbox's Temporal
  // server and GCS emulator, unless set explicitly.
  useSandboxWorkerEnv(sb);
  const s = await svc.connect();
  await endInterruptedRuns(s, DEMO_RUN);

  say('starting a worker on task queue "cutover"');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const worker = await createWorker();
  let finished = false;
  // On Ctrl-C the SDK's runtime shuts the worker down gracefully; nothing moves without it (bob's go would wait
  // forever), so the demo stops too. The open run stays in Temporal until the next demo ends it.
  const running = worker.run().then(
    () => {
      if (finished) return;
      say('interrupted: the worker stopped. The next `npm run demo` ends the open run and puts the servers back');
      process.exit(130);
    },
    (err: unknown) => {
      if (finished) throw err;
      console.error(err);
      process.exit(1);
    },
  );
  const d: Demo = { sb, s, fast: process.env.CUTOVER_DEMO_FAST === '1', stamp: new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14) };
  try {
    const moves: MoveResult[] = [];
    console.log('');
    say('move 1 of 2: files (file-sync), the demo asset tree dc1 → dc2');
    moves.push(await fileSyncMove(d));
    console.log('');
    say('move 2 of 2: PostgreSQL (postgres-failover), the sandbox primary dc1 → dc2');
    moves.push(await postgresFailoverMove(d));

    console.log('');
    for (const m of moves) say(`${m.ok ? '✓' : '✗'} ${m.id}: ${m.outcome}`);
    say(`the sandbox keeps running for you to explore (\`npm run cutover -- report ${moves[1].id}\`); stop it with \`npm run sandbox:down\``);
    if (moves[1].outcome === 'completed') {
      say(
        'PostgreSQL now runs on dc2 (127.0.2.1:5432); dc1 is the stopped, read-only old primary (sandbox:status shows ' +
          'it as such; sandbox:up leaves it stopped). The next `npm run demo` puts the pair back',
      );
    }
    if (moves.some((m) => !m.ok)) process.exitCode = 1;
  } finally {
    finished = true;
    await s.close();
    worker.shutdown();
    await running;
  }
}

main().catch((err) => {
  console.error(err instanceof UserError ? `demo: ${err.message}` : err);
  process.exit(1);
});

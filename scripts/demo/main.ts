// `npm run demo`: the whole thing on a fresh machine. Starts the sandbox (installing what is missing) and a worker,
// then runs every registered move's demo step (scripts/moves, scripts/demo/<kind>.ts) one after the other, each
// with a live writer going through a DNS name all along: today the demo asset tree (file-sync), the sandbox's own
// PostgreSQL primary (postgres-failover), after which every acknowledged commit is looked up on dc2, and the
// sandbox's Redis pair with a live job queue (redis-move), after which every acknowledged job must have run once.
// alice starts each move, bob (the demo approver) reviews each gate for 10 s and says go, and each final report is
// printed (`npm run demo -- redis-move` runs only the named moves). CUTOVER_DEMO_FAST=1 skips the pauses and the
// copy's bandwidth limit. It runs again and again: each move first puts its servers back as the sandbox made them.
// Exit code 1 if a move did not complete, a commit was lost, or a job was lost or run twice.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createWorker } from '../../workers/main';
import { UserError } from '../cli/errors';
import * as svc from '../cli/services';
import { loadSandbox, useSandboxWorkerEnv } from '../sandbox/endpoints';
import { type Demo, endInterruptedRuns, type MoveResult, say } from './drive';
import { moves } from '../moves';
import { sandboxSigningKeys } from '../sandbox/people';

/** Workflow ids of the demo's runs: <kind>-<what>-<stamp>. */
const DEMO_RUN = new RegExp(`^(${moves.map((m) => m.kind).join('|')})-[a-z0-9-]+-\\d{14}$`);

async function main(): Promise<void> {
  say('starting the sandbox (first run installs servers; later runs take seconds)');
  const up = spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, '..', 'sandbox', 'main.ts'), 'up'], { stdio: 'inherit' });
  if (up.status !== 0) throw new Error('sandbox:up failed (see above)');
  const sb = loadSandbox();
  // The worker below and the CLI services read their settings from the environment: the sandbox's Temporal
  // server and GCS emulator, unless set explicitly.
  useSandboxWorkerEnv(sb);
  // alice and bob sign with their own sandbox keys (made by sandbox:up, scripts/sandbox/people.ts).
  const s = await svc.connect({ identity: 'cutover demo (alice, bob)', signingKeys: sandboxSigningKeys(sb.stateDir) });
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
    const results: MoveResult[] = [];
    // `npm run demo -- <kind> ...` runs only those moves' steps.
    const only = process.argv.slice(2);
    const unknown = only.filter((k) => !moves.some((m) => m.kind === k));
    if (unknown.length) throw new UserError(`unknown move(s) ${unknown.join(', ')}: moves are ${moves.map((m) => m.kind).join(', ')}`);
    const chosen = only.length ? moves.filter((m) => only.includes(m.kind)) : [...moves];
    for (const [i, move] of chosen.entries()) {
      console.log('');
      say(`move ${i + 1} of ${chosen.length}: ${move.demo.title}`);
      const run = await move.demo.run();
      results.push(await run(d));
    }
    console.log('');
    for (const r of results) say(`${r.ok ? '✓' : '✗'} ${r.id}: ${r.outcome}`);
    say(`the sandbox keeps running for you to explore (\`npm run cutover -- report ${results.at(-1)!.id}\`); stop it with \`npm run sandbox:down\``);
    for (const r of results) if (r.afterwards) say(r.afterwards);
    if (results.some((r) => !r.ok)) process.exitCode = 1;
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

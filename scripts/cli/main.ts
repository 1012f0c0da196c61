#!/usr/bin/env node
// The `cutover` CLI: thin commands over services.ts (and setup.ts). User errors exit 2 without a stack; bugs exit 1.
import { parseArgs } from 'node:util';
import { PlanError } from '../plans/load';
import { UserError } from './errors';
import { formatBytes, formatPlanReview, formatReport, formatStatus, printable } from './format';
import * as svc from './services';
import { SECRET_STORE_HELP, setupNamespace } from './setup';

const USAGE = `usage: cutover <command> [options]

  setup [--namespace NS]            once per namespace: create the search attributes cutover sets
  plan FILE [--as NAME]             validate a plan and dry-run it on a worker: real read-only preflight, the steps
  start FILE [--as NAME] [--key KEY]  start the migration; prints its id and the Web UI link (a starter who is not
                                    an approver gives their key, to be able to abort, pause and resume)
  list                              migrations on this task queue
  status ID [--json]                phase, steps, open gate, figures
  watch ID                          follow progress until it ends or waits at a gate
  approve ID --gate G --as NAME [--key KEY] [--reason WHY]
  reject ID --gate G --as NAME [--key KEY] --reason WHY     no-go: rolls back
  recover ID retry|way-back|done-by-hand --as NAME [--key KEY] [--note WHAT]
                                    after a step failed past the point of no return: run it again, take the
                                    way back, or record it as done by hand (--note says what was done)
  abort ID --as NAME [--key KEY] --reason WHY   roll back now (the starter or an approver)
  pause ID --as NAME | resume ID --as NAME      hold / continue between steps (also --key KEY)
  report ID [--json]                the run's record: timeline, decisions, figures, compensations

Decisions, aborts, pauses and resumes are signed with your SSH key (ssh-keygen -Y sign -n cutover), which the
plan lists for you: --key KEY (a private key, or a .pub whose private half ssh-agent holds), default
$CUTOVER_SIGNING_KEY or ~/.ssh/id_ed25519. The workflow checks the signature; the Temporal client identity names you.

Temporal connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS variables or TEMPORAL_PROFILE
(default 127.0.0.1:7233). Your name for --as defaults to $CUTOVER_USER or your login.`;

type Values = { as?: string; key?: string; gate?: string; reason?: string; note?: string; namespace?: string; json?: boolean; help?: boolean };

function need(value: string | undefined, what: string): string {
  if (!value) throw new UserError(`missing ${what}\n\n${USAGE}`);
  return value;
}

let identity: string | undefined;

async function withServices<T>(fn: (s: svc.Services) => Promise<T>): Promise<T> {
  const s = await svc.connect({ identity });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

export async function run(argv: string[], print: (line: string) => void = console.log): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      as: { type: 'string' },
      key: { type: 'string' },
      gate: { type: 'string' },
      reason: { type: 'string' },
      note: { type: 'string' },
      namespace: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }) as { values: Values; positionals: string[] };
  const [command, arg] = positionals;
  if (!command || values.help) return print(USAGE);
  const by = values.as ?? svc.whoAmI();
  const key = values.key;
  identity = svc.identityFor(by);
  const signedBy = (d: { fingerprint?: string }) => (d.fingerprint ? `, signed with ${d.fingerprint}` : '');

  const needId = () => need(arg, 'migration ID');
  switch (command) {
    case 'setup': {
      const r = await setupNamespace(values.namespace);
      for (const name of r.existing) print(`search attribute ${name} (Keyword): already on namespace ${r.namespace}`);
      for (const name of r.created) print(`search attribute ${name} (Keyword): created on namespace ${r.namespace}`);
      print(`namespace ${r.namespace} is ready for cutover`);
      print(SECRET_STORE_HELP);
      return;
    }
    case 'plan': {
      const file = need(arg, 'plan FILE');
      return withServices(async (s) => print(formatPlanReview(file, await svc.reviewPlan(s, file, by))));
    }
    case 'start': {
      const file = need(arg, 'plan FILE');
      const { id, link } = await withServices((s) => svc.startMigration(s, file, by, key));
      print(`started ${id}`);
      print(`Web UI: ${link}`);
      print(`follow it: cutover watch ${id}`);
      return;
    }
    case 'list':
      return withServices(async (s) => {
        const rows = await svc.listMigrations(s);
        if (!rows.length) return print('no migrations yet');
        const idWidth = Math.max(36, ...rows.map((r) => r.id.length));
        for (const r of rows) print(printable(`${r.id.padEnd(idWidth)} ${r.kind.padEnd(18)} ${r.status.padEnd(11)} ${r.phase.padEnd(24)} ${r.startTime.toISOString()}`));
      });
    case 'status': {
      const id = needId();
      return withServices(async (s) => {
        const { status } = await svc.getStatus(s, id);
        print(values.json ? JSON.stringify(status, null, 2) : formatStatus(id, status));
      });
    }
    case 'watch': {
      const id = needId();
      return withServices((s) => watch(s, id, print));
    }
    case 'approve':
    case 'reject': {
      const id = needId();
      const gate = need(values.gate, '--gate');
      if (command === 'reject') need(values.reason, '--reason (say why the migration must not go on)');
      return withServices(async (s) => {
        // A go at a gate reading its evidence again (the HDFS cutover during a cycle) waits for that read: say so.
        const d = await svc.decide(s, id, gate, command === 'approve' ? 'go' : 'no-go', by, values.reason, undefined, key, { print });
        print(printable(`${d.decision} recorded at gate ${d.gate} by ${d.by} (${d.at}${signedBy(d)})${command === 'reject' ? ': rolling back' : ''}`));
        if (d.signature?.evidence) print(printable(`  on the evidence shown (${d.signature.evidence}): ${Object.entries(d.evidence).map(([k, v]) => `${k}=${v}`).join(', ')}`));
      });
    }
    case 'recover': {
      const id = needId();
      const decision = positionals[2];
      if (decision !== 'retry' && decision !== 'way-back' && decision !== 'done-by-hand') {
        throw new UserError(`recover needs a decision: retry, way-back or done-by-hand\n\n${USAGE}`);
      }
      if (decision === 'done-by-hand') need(values.note, '--note (say what was done by hand)');
      return withServices(async (s) => {
        const d = await svc.decide(s, id, 'recover', decision, by, values.reason, values.note, key);
        print(printable(`${d.decision} recorded at gate recover by ${d.by} (${d.at}${signedBy(d)})`));
      });
    }
    case 'abort': {
      const id = needId();
      const reason = need(values.reason, '--reason');
      return withServices(async (s) => {
        await svc.abortMigration(s, id, by, reason, key);
        print(`abort sent to ${id}: it rolls back at the next step boundary (a running copy is cancelled)`);
      });
    }
    case 'pause':
    case 'resume': {
      const id = needId();
      return withServices(async (s) => {
        const answer = await svc.setPaused(s, id, command === 'pause', by, key);
        const held = (await svc.getStatus(s, id)).status.heldPause;
        print(`${command} ${answer === 'taken' ? 'taken by' : 'sent to'} ${id}${held ? `: held, ${held.held}` : ''}`);
      });
    }
    case 'report': {
      const id = needId();
      return withServices(async (s) => {
        const { status } = await svc.getStatus(s, id);
        print(values.json ? JSON.stringify(status, null, 2) : formatReport(id, status));
      });
    }
    default:
      throw new UserError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

/** Follow a run: phase changes and live copy progress, until it ends or waits at a gate. */
async function watch(s: svc.Services, id: string, print: (line: string) => void): Promise<void> {
  let lastPhase = '';
  const tty = process.stdout.isTTY;
  for (;;) {
    const { status, running } = await svc.getStatus(s, id);
    if (status.phase !== lastPhase) {
      if (tty) process.stdout.write('\r\x1b[K');
      print(printable(`${new Date().toISOString()}  ${status.phase}`));
      lastPhase = status.phase;
    }
    if (!running) {
      print(formatStatus(id, status));
      return;
    }
    if (status.gate) {
      print(formatStatus(id, status));
      return;
    }
    if (tty) {
      const progress = await svc.liveProgress(s, id);
      const p = progress[0]?.details as { percent?: number; bytes?: number; rate?: string; transferredFiles?: number } | null;
      if (p && typeof p.percent === 'number') {
        const width = 30;
        const filled = Math.round((p.percent / 100) * width);
        process.stdout.write(
          `\r\x1b[K  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.percent}%  ${formatBytes(p.bytes ?? 0)}  ${p.rate ?? ''}  ${p.transferredFiles ?? 0} files`,
        );
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Entry point: user errors exit 2 with one clear message, bugs exit 1 with a stack. */
export function main(argv: string[]): void {
  run(argv).then(
    () => process.exit(0),
    (err) => {
      // gRPC errors carry a numeric code: only Node's own string codes name a parse error.
      const code = (err as { code?: unknown }).code;
      const parseError = typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
      if (err instanceof UserError || err instanceof PlanError || parseError) {
        console.error(`cutover: ${(err as Error).message}`);
        process.exit(2);
      }
      console.error(err);
      process.exit(1);
    },
  );
}

if (require.main === module) main(process.argv.slice(2));

// `npm run bench -- <name> [--rounds N] [--cold]`: runs one benchmark against the sandbox's real servers.
// Progress goes to stderr; the result is one JSON object, printed as the last line of stdout and written to
// scripts/bench/results/<name>.json. Each move's benchmark (scripts/bench/<kind>.ts) is named by its kind and
// found through the move registry.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { UserError } from '../cli/errors';
import { findMove, moveKinds, moves } from '../moves';

export interface BenchOptions {
  /** Timed repetitions; figures are medians over them. Absent: the benchmark's default. */
  rounds?: number;
  /** The benchmark's own flags (its `flags`), as given; absent ones are undefined. */
  flags?: Record<string, string | undefined>;
  /** Drop the page cache before each timed run instead of warming it (needs root). */
  cold: boolean;
  progress: (line: string) => void;
  /** Aborted by Ctrl-C: stop at the next check and clean up (workflows, copies, DNS names). */
  signal: AbortSignal;
}

/** A flag of one benchmark: `--name VALUE`, described in the usage. */
export interface BenchFlag {
  description: string;
}

export interface Benchmark {
  summary: string;
  /** Its own flags (`npm run bench -- redis-move --keys 2000000`), by name. */
  flags?: Record<string, BenchFlag>;
  /** The benchmark's own figures; main adds name, machine, at and durationMs. */
  run(options: BenchOptions): Promise<Record<string, unknown>>;
}

const resultsDir = path.join(__dirname, 'results');

async function usage(): Promise<string> {
  const names = await Promise.all(
    moves.map(async (m) => {
      const b = await m.bench();
      return [`  ${m.kind.padEnd(20)}${b.summary}`, ...Object.entries(b.flags ?? {}).map(([f, d]) => `  ${''.padEnd(20)}  --${f} ${d.description}`)];
    }),
  );
  return [
    'usage: npm run bench -- <name> [--rounds N] [--cold] [its own flags]',
    '',
    'benchmarks:',
    ...names.flat(),
    '',
    '  --rounds N   timed repetitions, figures are medians (default: per benchmark)',
    '  --cold       drop the page cache before each timed run (default: warm it, the same way for every run)',
  ].join('\n');
}

function machine(): Record<string, string | number> {
  const version = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim();
  };
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    rsync: version('rsync', ['--version']),
    ssh: version('ssh', ['-V']),
  };
}

async function main(argv: string[]): Promise<void> {
  // `npm run bench -- redis-move -- --keys 2000000` hands the script a `--` of its own: flags follow it all the same.
  const args = argv.filter((a) => a !== '--');
  // The benchmark is named first (its flags are its own), then everything is read strictly.
  const named = args.find((a) => !a.startsWith('-'));
  const own = named ? await findMove(named)?.bench() : undefined;
  const ownFlags = Object.fromEntries(Object.keys(own?.flags ?? {}).map((f) => [f, { type: 'string' as const }]));
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { ...ownFlags, rounds: { type: 'string' }, cold: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    throw new UserError(`${(err as Error).message}\n\n${await usage()}`);
  }
  const { values, positionals } = parsed;
  if (values.help) return void console.log(await usage());
  const [name, ...extra] = positionals;
  if (!name) throw new UserError(`name a benchmark\n\n${await usage()}`);
  const move = findMove(name);
  if (!move) throw new UserError(`unknown benchmark "${name}": benchmarks are ${moveKinds.join(', ')}\n\n${await usage()}`);
  if (extra.length > 0) throw new UserError(`unexpected argument(s) ${extra.join(' ')}\n\n${await usage()}`);
  const benchmark = own ?? (await move.bench());
  const flags = Object.fromEntries(Object.keys(ownFlags).map((f) => [f, (values as Record<string, unknown>)[f] as string | undefined]));
  const rounds = values.rounds === undefined ? undefined : Number(values.rounds);
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds >= 1)) {
    throw new UserError(`--rounds: expected a whole number ≥ 1, got "${values.rounds}"`);
  }

  const started = Date.now();
  const progress = (line: string) => console.error(`[bench ${name} +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);
  const interrupt = new AbortController();
  process.on('SIGINT', () => {
    if (interrupt.signal.aborted) process.exit(130);
    progress('interrupted: cleaning up (Ctrl-C again to quit at once)');
    interrupt.abort();
  });
  const figures = await benchmark.run({ rounds, flags, cold: values.cold ?? false, progress, signal: interrupt.signal });
  const result = { name, ...figures, machine: machine(), at: new Date(started).toISOString(), durationMs: Date.now() - started };
  const json = JSON.stringify(result);
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  progress(`done; written to ${path.relative(process.cwd(), file)}`);
  console.log(json);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    // The worker's native runtime can keep the event loop alive for a while after shutdown: don't wait for it.
    () => process.exit(0),
    (err) => {
      if (err instanceof Error && err.name === 'AbortError') {
        console.error('bench: interrupted, nothing written');
        process.exit(130);
      }
      if (err instanceof UserError) {
        console.error(`bench: ${err.message}`);
        process.exit(2);
      }
      console.error(err);
      process.exit(1);
    },
  );
}

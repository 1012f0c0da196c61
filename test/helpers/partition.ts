// A network partition for e2e tests: iptables rules on the loopback interface (the sandbox's datacenters are
// loopback addresses, 127.0.1.x and 127.0.2.x), added for the part of a test that needs them and removed again
// whatever happens. A test file removes the rules in its own `finally` and calls `healAll()` in `afterAll`, so a
// test that failed half-way (or timed out) never leaves a rule behind for the next test or person.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** One rule as iptables' arguments after `-A`/`-D`: `['OUTPUT', '-d', '127.0.2.1', ..., '-j', 'DROP']`. */
export type Rule = string[];

/** Rules added and not removed yet, in this process. */
const active: Rule[] = [];

const iptables = (op: '-A' | '-D', rule: Rule) => promisify(execFile)('iptables', ['-w', op, ...rule]);

export interface Partition {
  rules: Rule[];
  /** When the first rule was added (ms since the epoch). */
  since: number;
  /** Removes this partition's rules (idempotent); resolves once they are gone. */
  heal(): Promise<void>;
}

/** Adds `rules` (remembered before each is added, so even a failure half-way is healed by `healAll`). */
export async function partition(rules: Rule[]): Promise<Partition> {
  const mine: Rule[] = [];
  const heal = async () => {
    for (const r of mine.splice(0)) await remove(r);
  };
  try {
    for (const r of rules) {
      active.push(r);
      mine.push(r);
      await iptables('-A', r);
    }
  } catch (err) {
    await heal();
    throw err;
  }
  return { rules, since: Date.now(), heal };
}

async function remove(r: Rule): Promise<void> {
  const i = active.indexOf(r);
  if (i >= 0) active.splice(i, 1);
  // Already gone (never added, or removed by hand) is fine: the point is that it is not there afterwards.
  await iptables('-D', r).catch(() => undefined);
}

/** Removes every rule this process added and did not remove yet (for `afterAll`). */
export async function healAll(): Promise<void> {
  for (const r of active.slice()) await remove(r);
}

/** TCP to `to`'s `ports` and its answers, both dropped; only from `from` if given (else from anyone). */
export function cutTcp(to: string, ports: Array<number | string>, from?: string): Rule[] {
  const list = ports.join(',');
  const src = from ? ['-s', from] : [];
  const dst = from ? ['-d', from] : [];
  return [
    ['OUTPUT', ...src, '-d', to, '-p', 'tcp', '-m', 'multiport', '--dports', list, '-j', 'DROP'],
    ['OUTPUT', '-s', to, ...dst, '-p', 'tcp', '-m', 'multiport', '--sports', list, '-j', 'DROP'],
  ];
}

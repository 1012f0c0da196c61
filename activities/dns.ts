// Traffic switches by DNS: RFC 2136 dynamic updates signed with a TSIG key (nsupdate), confirmed by querying
// the authoritative server directly.
import { spawn } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../workflows/shared/errors';
import type { DnsSwitch, SecretRef } from '../workflows/shared/types';
import type { ActivityDeps } from './deps';
import { describeSecret, scrubSecret, SecretError, withSecretFile } from './secrets';

export async function lookupA(dns: Pick<DnsSwitch, 'server' | 'port' | 'name'>): Promise<string[]> {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([`${dns.server}:${dns.port}`]);
  try {
    return (await resolver.resolve4(dns.name)).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
    throw new Error(`DNS server ${dns.server}:${dns.port} did not answer for ${dns.name}: ${code ?? (err as Error).message}`);
  }
}

/**
 * nsupdate -k with a private copy of the key from the worker's secret store (a 0600 file in a fresh 0700
 * directory, removed after). nsupdate quotes the start of a key file it cannot parse: its output is scrubbed of
 * every line that quotes the key before it can reach an error, the history or a report.
 */
export async function nsupdate(bin: string, key: SecretRef, script: string): Promise<void> {
  const failed = (err: unknown) => {
    throw err instanceof SecretError ? ApplicationFailure.nonRetryable(err.message, ErrorType.InvalidPlan) : err;
  };
  await withSecretFile(key, 'traffic.dns.tsigKey', (keyFile, value) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(bin, ['-k', keyFile], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stderr.on('data', (d) => (out += d));
      child.stdout.on('data', (d) => (out += d));
      child.on('error', (e) => reject(new Error(`cannot run ${bin}: ${e.message} (install bind9-dnsutils)`)));
      child.on('close', (code) => {
        if (code === 0) return resolve();
        const shown = scrubSecret(out.trim(), value).split(keyFile).join(`<${describeSecret(key)}>`);
        reject(new Error(`nsupdate exited ${code}: ${shown}`));
      });
      child.stdin.end(script);
    }),
  ).catch(failed);
}

export function createDnsActivities(deps: ActivityDeps) {
  return {
    async lookupDns(input: { dns: Pick<DnsSwitch, 'server' | 'port' | 'name'> }): Promise<{ addresses: string[] }> {
      return { addresses: await lookupA(input.dns) };
    },

    /**
     * Point `name` at `to`. Idempotent: already there → nothing to do. Refuses when the name points somewhere
     * neither side expects (someone else changed it). Returns where it pointed before.
     */
    async switchDns(input: { dns: DnsSwitch; from: string; to: string }): Promise<{ previous: string[]; changed: boolean; confirmedMs: number }> {
      const { dns, from, to } = input;
      const current = await lookupA(dns);
      if (current.length === 1 && current[0] === to) return { previous: current, changed: false, confirmedMs: 0 };
      if (!(current.length === 1 && current[0] === from)) {
        throw ApplicationFailure.nonRetryable(
          `${dns.name} points at ${current.join(', ') || 'nothing'}, expected ${from}: refusing to switch it to ${to}`,
          ErrorType.TrafficSwitchFailed,
        );
      }
      const started = Date.now();
      const script = [
        `server ${dns.server} ${dns.port}`,
        `zone ${dns.zone}`,
        `update delete ${dns.name}. A`,
        `update add ${dns.name}. ${dns.ttl} A ${to}`,
        'send',
        '',
      ].join('\n');
      await nsupdate(deps.nsupdatePath, dns.tsigKey, script);
      for (let i = 0; i < 50; i++) {
        const now = await lookupA(dns);
        if (now.length === 1 && now[0] === to) return { previous: current, changed: true, confirmedMs: Date.now() - started };
        heartbeat({ waitingFor: to, sees: now });
        await new Promise((r) => setTimeout(r, 100));
      }
      throw ApplicationFailure.retryable(`${dns.name} still does not resolve to ${to} at ${dns.server}:${dns.port}`, ErrorType.TrafficSwitchFailed);
    },
  };
}

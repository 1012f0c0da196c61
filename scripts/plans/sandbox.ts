// What every sandbox sample plan shares: the two hosts, the DNS zone, and writing a plan file. Each move's own
// sample plan is in scripts/plans/<kind>.ts.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { SANDBOX_SECRETS, type SandboxEndpoints } from '../sandbox/endpoints';

/** The sandbox's dc1 and dc2 as a plan's `hosts`. */
export function sandboxHosts(sb: SandboxEndpoints): Record<'dc1' | 'dc2', Record<string, unknown>> {
  const host = (h: SandboxEndpoints['hosts']['dc1']) => ({ address: h.address, port: h.sshPort, user: h.user, identity: { secret: SANDBOX_SECRETS.sshIdentity }, knownHostsFile: h.knownHostsFile });
  return { dc1: host(sb.hosts.dc1), dc2: host(sb.hosts.dc2) };
}

/** The sandbox's DNS server and zone, switching `name` (TTL 1 s). */
export function sandboxDns(sb: SandboxEndpoints, name: string) {
  return { server: sb.dns.server, port: sb.dns.port, zone: sb.dns.zone, tsigKey: { secret: SANDBOX_SECRETS.tsigKey }, name, ttl: 1 };
}

export function writePlan(file: string, plan: Record<string, unknown>): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `# generated for the cutover sandbox\n${stringify(plan)}`);
  return file;
}

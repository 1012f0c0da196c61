// Field schemas shared by every plan kind (zod): durations, sizes, paths, hosts, gates, approvals, artifacts.
import { z } from 'zod';
import type { GatePolicy } from '../../workflows/shared/types';
import { parseDuration, parseSize } from './units';

export const duration = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as "30s", "15m" or "2h", got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return ms;
  });

export const size = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const bytes = parseSize(v);
    if (bytes === null) {
      ctx.addIssue({ code: 'custom', message: `expected a size such as 1048576, "512KiB" or "1MiB", got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return bytes;
  });

export const absolutePath = z.string().min(1).refine((p) => p.startsWith('/'), 'expected an absolute path');
export const ipv4 = z.string().regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, 'expected an IPv4 address');
export const person = z.string().regex(/^[A-Za-z0-9._@-]+$/, 'expected a user name (letters, digits, . _ @ -)');

export const hostSchema = z.strictObject({
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().min(1),
  identityFile: absolutePath.describe('private key file on the worker host'),
  knownHostsFile: absolutePath.describe('known_hosts file pinning the host key'),
});

export const gateSchema = z
  .strictObject({
    timeout: duration.optional(),
    onTimeout: z.enum(['rollback', 'wait']).default('wait'),
  })
  .default({ onTimeout: 'wait' });

export const approvalSchema = z.strictObject({
  approvers: z.array(person).min(1, 'name at least one approver'),
  requireSecondPerson: z.boolean().default(true),
});

export const artifactsSchema = z.strictObject({
  bucket: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$/, 'expected a GCS bucket name'),
  prefix: z.string().default('reports'),
});

export function gatePolicy(g: { timeout?: number; onTimeout: 'rollback' | 'wait' }): GatePolicy {
  return { timeoutMs: g.timeout, onTimeout: g.onTimeout };
}

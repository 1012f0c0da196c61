// Secrets a test puts in the sandbox worker's store (<stateDir>/secrets, CUTOVER_SECRETS_DIR of the workers the
// tests start) under names of its own, removed by the test's cleanup.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { putSecret, removeSecret } from '../../scripts/sandbox/secrets';
import { SANDBOX_SECRETS, sandboxSecretsDir, type SandboxEndpoints } from '../../scripts/sandbox/endpoints';
import type { SecretRef } from '../../workflows/shared/types';

export interface TestSecret {
  name: string;
  ref: SecretRef;
  remove(): void;
}

/** `value` stored as `<prefix>-<random>`; a name nobody stored when `value` is null. */
export function testSecret(sb: Pick<SandboxEndpoints, 'stateDir'>, prefix: string, value: string | Buffer | null): TestSecret {
  const name = `${prefix}-${randomUUID().slice(0, 8)}`;
  const dir = sandboxSecretsDir(sb);
  if (value !== null) putSecret(dir, name, value);
  return { name, ref: { secret: name }, remove: () => removeSecret(dir, name) };
}

/**
 * What must never reach a history, an error or a report: the sandbox store's secret values (passwords, the SSH
 * key's base64 lines, the TSIG key's secret), each as the longest pieces a tool or a log could quote.
 */
export function sandboxSecretValues(sb: Pick<SandboxEndpoints, 'stateDir'>): string[] {
  const dir = sandboxSecretsDir(sb);
  const values: string[] = [];
  for (const name of [SANDBOX_SECRETS.pgSuperuser, SANDBOX_SECRETS.pgReplicator, SANDBOX_SECRETS.sshIdentity, SANDBOX_SECRETS.tsigKey]) {
    const text = readFileSync(path.join(dir, name), 'utf8');
    const tsig = /secret\s+"([^"]+)"/.exec(text);
    if (tsig) values.push(tsig[1]);
    else for (const line of text.split('\n').map((l) => l.trim())) if (line.length >= 16 && !line.startsWith('-----')) values.push(line);
  }
  return values;
}

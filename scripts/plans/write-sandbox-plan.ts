// Writes a sample plan for the running sandbox (its paths depend on where the state dir is) and prints its path:
//   npx tsx scripts/plans/write-sandbox-plan.ts postgres-failover [NAME]
//   npx tsx scripts/plans/write-sandbox-plan.ts file-sync [NAME]
import path from 'node:path';
import { loadSandbox } from '../sandbox/endpoints';
import { sandboxFileSyncPlan, sandboxPostgresFailoverPlan, writePlan } from './sandbox';

function main(argv: string[]): void {
  const [kind, name] = argv;
  const sb = loadSandbox();
  let plan: Record<string, unknown>;
  if (kind === 'postgres-failover') {
    // The sandbox's own primary (dc1, 127.0.1.1:5432) to dc2/pg, switching pg.sandbox.internal.
    plan = sandboxPostgresFailoverPlan(sb, { name: name ?? 'pg-demo', dnsName: `pg.${sb.dns.zone}`, soak: '30s' });
  } else if (kind === 'file-sync') {
    plan = sandboxFileSyncPlan(sb, { name: name ?? 'assets-demo', sourceDir: sb.files.sourceDir, targetDir: sb.files.targetDir, dnsName: `assets.${sb.dns.zone}` });
  } else {
    console.error('usage: write-sandbox-plan.ts postgres-failover|file-sync [NAME]');
    process.exit(2);
  }
  console.log(writePlan(path.join(sb.stateDir, 'plans', `${plan.name as string}.yaml`), plan));
}

main(process.argv.slice(2));

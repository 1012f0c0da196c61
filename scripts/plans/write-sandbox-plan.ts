// Writes a move's sample plan for the running sandbox (its paths depend on where the state dir is) and prints
// its path:   npx tsx scripts/plans/write-sandbox-plan.ts <kind> [NAME]      (kinds: the move registry)
import path from 'node:path';
import { findMove, moveKinds } from '../moves';
import { loadSandbox } from '../sandbox/endpoints';
import { writePlan } from './sandbox';

function main(argv: string[]): void {
  const [kind, name] = argv;
  const move = kind ? findMove(kind) : undefined;
  if (!move) {
    console.error(`usage: write-sandbox-plan.ts ${moveKinds.join('|')} [NAME]`);
    process.exit(2);
  }
  const sb = loadSandbox();
  const plan = move.samplePlan(sb, name ?? move.sampleName);
  console.log(writePlan(path.join(sb.stateDir, 'plans', `${plan.name as string}.yaml`), plan));
}

main(process.argv.slice(2));

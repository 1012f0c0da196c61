// `npm run build:workflows`: bundles workflows/ once for production workers (NODE_ENV=production).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowBundlePath } from '../workers/main';

async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows') });
  mkdirSync(path.dirname(workflowBundlePath), { recursive: true });
  writeFileSync(workflowBundlePath, code);
  console.log(`wrote ${workflowBundlePath} (${(code.length / 1024).toFixed(0)} KiB)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

// Writes the pre-built workflow bundle dist/workflow-bundle.js that the installed worker (and NODE_ENV=production)
// loads: `npm run build` runs it compiled, over dist/workflows; `npm run build:workflows` through tsx, over workflows/.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { workflowBundlePath } from '../workers/main';

async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: new DefaultLogger('WARN') });
  mkdirSync(path.dirname(workflowBundlePath), { recursive: true });
  writeFileSync(workflowBundlePath, code);
  console.log(`wrote ${workflowBundlePath} (${(code.length / 1024).toFixed(0)} KiB)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

#!/usr/bin/env node
// Development launcher: the TypeScript CLI through tsx (a devDependency), as `npm run cutover` does. The tests
// spawn it. The installed package's `cutover` is the compiled dist/scripts/cli/main.js (`npm run build`).
require('tsx/cjs');
require('./cli/main.ts').main(process.argv.slice(2));

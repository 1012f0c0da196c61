#!/usr/bin/env node
// Package bin `cutover`: runs the TypeScript CLI through tsx.
require('tsx/cjs');
require('./cli/main.ts').main(process.argv.slice(2));

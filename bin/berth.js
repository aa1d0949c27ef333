#!/usr/bin/env node
// The `berth` command: runs src/cli/main.ts through tsx's loader, from any working directory.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv.slice(2));

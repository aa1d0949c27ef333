/** Writes src/errors.ts's catalogue into openapi.yaml as the Problem `code` enum (run by `npm run generate:api`). */
import { readFileSync, writeFileSync } from 'node:fs';
import { ERROR_CATALOGUE } from '../src/errors.ts';
import { specPath } from '../src/http/spec.ts';

const marker =
  "          description: Stable machine-readable code from berth's error catalogue (src/errors.ts).\n          enum:\n";
const text = readFileSync(specPath, 'utf8');
const start = text.indexOf(marker);
if (start === -1) throw new Error('openapi.yaml: the Problem code enum marker is missing');
const from = start + marker.length;
let to = from;
while (text.startsWith('            - ', to)) to = text.indexOf('\n', to) + 1;
const list = Object.keys(ERROR_CATALOGUE)
  .map((code) => `            - ${code}\n`)
  .join('');
writeFileSync(specPath, text.slice(0, from) + list + text.slice(to));

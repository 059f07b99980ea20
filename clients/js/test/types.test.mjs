// The package's types under `tsc --strict` (issue 15): test/types/consumer.ts uses them as an app
// would, generic event data included. TypeScript is a dev dependency of this package only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('a consumer file compiles with tsc --strict against lms-realtime.d.ts', () => {
  const tsc = path.join(PKG, 'node_modules', 'typescript', 'bin', 'tsc');
  assert.ok(fs.existsSync(tsc), 'typescript is installed (npm ci in clients/js)');
  const r = spawnSync(process.execPath, [tsc, '--strict', '--noEmit', '--target', 'es2022', '--module', 'nodenext',
    '--moduleResolution', 'nodenext', '--lib', 'es2022,dom', path.join('test', 'types', 'consumer.ts')],
  { cwd: PKG, encoding: 'utf8' });
  assert.equal(r.status, 0, 'tsc --strict:\n' + r.stdout + r.stderr);
});

// The package's types under `tsc --strict` (issue 15): test/types/consumer.ts uses them as a browser
// app would (DOM library), generic event data included; test/types/node-consumer.ts as a Node app
// would (no DOM, the `ws` package's WebSocket). TypeScript and @types/ws are dev dependencies of this
// package only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function tscStrict(lib, file) {
  const tsc = path.join(PKG, 'node_modules', 'typescript', 'bin', 'tsc');
  assert.ok(fs.existsSync(tsc), 'typescript is installed (npm ci in clients/js)');
  const r = spawnSync(process.execPath, [tsc, '--strict', '--noEmit', '--target', 'es2022', '--module', 'nodenext',
    '--moduleResolution', 'nodenext', '--lib', lib, path.join('test', 'types', file)],
  { cwd: PKG, encoding: 'utf8' });
  assert.equal(r.status, 0, 'tsc --strict ' + file + ':\n' + r.stdout + r.stderr);
}

test('a browser consumer compiles with tsc --strict against lms-realtime.d.ts, passing the DOM WebSocket', () => {
  tscStrict('es2022,dom', 'consumer.ts');
});

test("a Node consumer compiles with tsc --strict (no DOM), passing the ws package's WebSocket", () => {
  assert.ok(fs.existsSync(path.join(PKG, 'node_modules', '@types', 'ws')), '@types/ws is installed (npm ci in clients/js)');
  tscStrict('es2022', 'node-consumer.ts');
});

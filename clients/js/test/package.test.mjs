// The package as npm would ship it: `npm pack` makes the tarball, a fresh project installs it from
// the file (the package is not on the npm registry yet: README, "Getting it"), and Node imports it
// by its name. Checks what a consumer gets: the files, the metadata, the exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PKG = path.resolve(HERE, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

test('npm pack, then install the tarball in a fresh project and import @lms-realtime/client', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lms-pack-'));
  try {
    const out = execFileSync(npm, ['pack', '--json', '--pack-destination', dir], { cwd: PKG, encoding: 'utf8' });
    const [packed] = JSON.parse(out);
    const files = packed.files.map((f) => f.path).sort();
    assert.deepEqual(files, ['LICENSE', 'README.md', 'lms-realtime.d.ts', 'lms-realtime.js', 'package.json'],
      'the tarball holds the client, its types, README, LICENSE and package.json, nothing else');

    const app = path.join(dir, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
    execFileSync(npm, ['install', '--offline', '--no-audit', '--no-fund', path.join(dir, packed.filename)], { cwd: app, encoding: 'utf8' });

    const installed = path.join(app, 'node_modules', '@lms-realtime', 'client');
    const meta = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
    assert.equal(meta.license, 'Apache-2.0');
    assert.ok(meta.repository && meta.repository.url, 'repository is set');
    assert.ok(meta.homepage, 'homepage is set');
    assert.ok(fs.existsSync(path.join(installed, meta.types)), 'the types file named by package.json is there');

    // resolve by name, as a consumer's `import '@lms-realtime/client'` does
    fs.writeFileSync(path.join(app, 'main.mjs'),
      "import { RealtimeClient } from '@lms-realtime/client';\n" +
      "console.log(JSON.stringify({ type: typeof RealtimeClient, join: typeof RealtimeClient.prototype.join }));\n");
    const result = JSON.parse(execFileSync(process.execPath, [path.join(app, 'main.mjs')], { cwd: app, encoding: 'utf8' }));
    assert.deepEqual(result, { type: 'function', join: 'function' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the package on disk is the one the engine serves at /sdk/ (same file)', async () => {
  // pom.xml copies clients/js/lms-realtime.js to the jar's web/sdk/: one source, two ways in
  const served = path.resolve(PKG, '..', '..', 'pom.xml');
  const pom = fs.readFileSync(served, 'utf8');
  assert.match(pom, /<directory>clients\/js<\/directory>\s*<targetPath>web\/sdk<\/targetPath>/);
  const mod = await import(pathToFileURL(path.join(PKG, 'lms-realtime.js')).href);
  assert.equal(typeof mod.RealtimeClient, 'function');
});

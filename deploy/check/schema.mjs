// One Kubernetes object against its API schema, the way `kubectl apply --validate=strict` would
// judge it, without a cluster:
// - kubernetes-models' validators (generated from the Kubernetes OpenAPI schemas, and from the
//   Prometheus Operator's CRDs for ServiceMonitor): required fields, types, formats, enums;
// - unknown fields, which those validators let through (the schemas allow additional properties):
//   every key must be a property of its type, as the same package's type declarations list them,
//   so a misspelt field (`imagePulPolicy`) fails instead of being silently dropped by the API server.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const NODE_MODULES = join(dirname(require.resolve("yaml/package.json")), "..");

/** The model module of apiVersion/kind: kubernetes-models for the built-in API, the operator's for CRDs. */
function modelModule(apiVersion, kind) {
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** Every error of `object` against its schema, as "path: what" lines; empty when it is valid. */
export async function schemaErrors(object) {
  const where = `${object?.kind ?? "?"}/${object?.metadata?.name ?? "?"}`;
  if (typeof object?.apiVersion !== "string" || typeof object?.kind !== "string") {
    return [`${where}: no apiVersion or kind`];
  }
  const specifier = modelModule(object.apiVersion, object.kind);
  const declaration = join(NODE_MODULES, `${specifier}.d.ts`);
  if (!existsSync(declaration)) {
    return [`${where}: no schema for apiVersion ${object.apiVersion}, kind ${object.kind} (misspelt, or an API this check does not know)`];
  }
  const errors = [];
  const module = await import(specifier);
  const Model = module[object.kind];
  try {
    new Model(object).validate();
  } catch (e) {
    for (const detail of e.errors ?? [{ instancePath: "", message: e.message }]) {
      errors.push(`${where}${detail.instancePath.replaceAll("/", ".")}: ${detail.message}${detail.params?.allowedValues ? " " + JSON.stringify(detail.params.allowedValues) : ""}`);
    }
  }
  unknownFields(object, declaration, object.kind, where, errors);
  return errors;
}

// --- unknown fields, from the models' type declarations ---------------------------------------------

const classes = new Map(); // .d.ts file -> Map(property -> type text)

/** The properties of the class a .d.ts file declares (the flattened `declare class`, inherited ones included). */
function properties(file) {
  if (classes.has(file)) {
    return classes.get(file);
  }
  const text = readFileSync(file, "utf8");
  const imports = new Map();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    imports.set(m[1], m[2]);
  }
  const body = text.match(/^export declare class \w+ extends Model<\w+>[^\n]*\{\n([\s\S]*?)\n\}/m);
  let props = null;
  if (body) {
    props = new Map();
    // top-level members only: four spaces of indent; a multi-line type ({ [key: string]: ... })
    // opens on this line and is a map whose values are not checked further
    for (const m of body[1].matchAll(/^ {4}"([^"]+)"\??: (.*?);?$/gm)) {
      props.set(m[1], { type: m[2], imports, file });
    }
  }
  classes.set(file, props);
  return props;
}

function declarationOf(name, imports, fromFile) {
  const specifier = imports.get(name);
  if (!specifier) {
    return null;
  }
  const path = specifier.startsWith(".")
    ? join(dirname(fromFile), specifier.replace(/\.js$/, ".d.ts"))
    : join(NODE_MODULES, `${specifier}.d.ts`);
  return existsSync(path) ? path : null;
}

function unknownFields(value, file, typeName, path, errors) {
  const props = properties(file);
  if (!props || value === null || typeof value !== "object" || Array.isArray(value)) {
    return; // a type alias (IntOrString, Quantity, Time, ...): the validator has judged it
  }
  for (const [key, child] of Object.entries(value)) {
    const prop = props.get(key);
    if (!prop) {
      errors.push(`${path}.${key}: unknown field in ${typeName} (misspelt?)`);
      continue;
    }
    checkType(child, prop.type, prop.imports, prop.file, `${path}.${key}`, errors);
  }
}

function checkType(value, type, imports, fromFile, path, errors) {
  const array = type.match(/^Array<(\w+)>$/);
  if (array) {
    if (Array.isArray(value)) {
      value.forEach((item, i) => checkType(item, array[1], imports, fromFile, `${path}[${i}]`, errors));
    }
    return;
  }
  if (/^I\w+$/.test(type)) {
    const file = declarationOf(type, imports, fromFile);
    if (file) {
      unknownFields(value, file, type.replace(/^I(IoK8sApi\w*?V\d\w*?|IoK8sApimachinery\w*?V\d|ComGithub\w*?V\d)?/, ""), path, errors);
    }
  }
  // string, number, boolean, literal unions, maps ({ ... }): nothing to walk
}

// Checks the API documents as a running node serves them (issue 15):
//   1. fetches GET /docs/openapi.yaml and /docs/asyncapi.yaml from the node (the copies packed in its jar),
//   2. validates them with the real parsers (@apidevtools/swagger-parser, @asyncapi/parser: any
//      error-level diagnostic fails),
//   3. checks them against the code: the routes of Routes.java (and what it mounts: BackendApi,
//      DemoRoutes), the client frame types of ClientFrame.java, the server frame types of
//      ServerFrames.java, the codes of ErrorCodes.java and CloseCodes.java,
//   4. replays their examples on the node: every OpenAPI request example, compared with its response
//      example (status, media type, keys, values), and every AsyncAPI client example on real sockets,
//      compared with the frames that come back; every answer is also validated against its schema.
//
// Environment:
//   LMS_URL            the node, e.g. http://127.0.0.1:8080 (required; a fresh node: the examples
//                      are one session's story, with the sequence numbers it gives)
//   LMS_JWT_SECRET     the node's HS256 secret, to mint the users' tokens (required)
//   LMS_SERVICE_TOKEN  a service token (optional: minted with the secret when absent)
//   LMS_DEMO_URL       a node started with --demo (optional: the demo-only routes are then replayed there)
//   LMS_SOURCE_DIR     the repository (default: two levels above this file)
//   LMS_RESOURCES_DIR  the jar's resources, to list what getFromResourceDirectory serves (default target/classes)
// Exits 1 on any mismatch; prints every check.

import SwaggerParser from '@apidevtools/swagger-parser';
import { Parser as AsyncApiParser } from '@asyncapi/parser';
import Ajv from 'ajv';
import Ajv2020 from 'ajv/dist/2020.js';
import YAML from 'yaml';
import WebSocket from 'ws';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = path.resolve(process.env.LMS_SOURCE_DIR || path.join(HERE, '..', '..'));
const RESOURCES_DIR = path.resolve(process.env.LMS_RESOURCES_DIR || path.join(SOURCE_DIR, 'target', 'classes'));
const JAVA = path.join(SOURCE_DIR, 'src', 'main', 'java', 'lms', 'realtime');
const BASE = (process.env.LMS_URL || '').replace(/\/$/, '');
const DEMO = (process.env.LMS_DEMO_URL || '').replace(/\/$/, '');
const SECRET = process.env.LMS_JWT_SECRET || '';
const WAIT_MS = 5000;

/** Values that differ from run to run: compared by JSON type only. */
const VOLATILE = new Set(['epoch', 'ts', 'exp', 'connectionId', 'token', 'liveToken', 'wsUrl']);

/** The users of the replay (the documents' descriptions name them). */
const ACTORS = {
  u17: { name: 'Ada Lovelace', courses: { 42: 'student' } },
  t1: { name: 'Grace Hopper', courses: { 42: 'instructor' } },
  u23: { name: 'Lin Wei', courses: {} },
  u50: { name: 'Rita', courses: {} },
};

// ------------------------------------------------------------------ reporting

let passed = 0;
let failed = 0;
let skipped = 0;
function ok(what) {
  passed++;
  console.log(`  ok    ${what}`);
}
function fail(what, why) {
  failed++;
  console.log(`  FAIL  ${what}: ${why}`);
}
function skip(what, why) {
  skipped++;
  console.log(`  skip  ${what}: ${why}`);
}
function check(what, diffs) {
  if (diffs.length === 0) ok(what);
  else fail(what, diffs.join('; '));
  return diffs.length === 0;
}
function section(title) {
  console.log(`\n== ${title}`);
}
const show = (v) => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 300 ? s.slice(0, 300) + '…' : s;
};

// ------------------------------------------------------------------ tokens

const b64url = (b) => Buffer.from(b).toString('base64url');
function jwt(claims) {
  const now = Math.floor(Date.now() / 1000);
  const body = { iat: now - 5, exp: now + 3600, ...claims };
  const input = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' })) + '.' + b64url(JSON.stringify(body));
  return input + '.' + crypto.createHmac('sha256', Buffer.from(SECRET, 'utf8')).update(input).digest('base64url');
}
function accessToken(userId) {
  const a = ACTORS[userId];
  if (!a) throw new Error(`no such user in the replay: ${userId}`);
  return jwt({ sub: userId, name: a.name, courses: a.courses });
}
/** x-check.token: a user id (that user's access token) or the claims of the token to mint. */
const tokenFor = (spec) => (typeof spec === 'string' ? accessToken(spec) : jwt(spec));
let serviceToken = process.env.LMS_SERVICE_TOKEN || '';

// ------------------------------------------------------------------ JSON helpers

/** Same keys, same lengths, equal values except VOLATILE keys (same JSON type). */
function compareShape(expected, actual, where = '$', diffs = []) {
  const kind = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  if (kind(expected) !== kind(actual)) {
    diffs.push(`${where}: expected ${kind(expected)} ${show(expected)}, got ${show(actual)}`);
  } else if (Array.isArray(expected)) {
    if (expected.length !== actual.length) {
      diffs.push(`${where}: expected ${expected.length} items, got ${actual.length}: ${show(actual)}`);
    } else {
      expected.forEach((e, i) => compareShape(e, actual[i], `${where}[${i}]`, diffs));
    }
  } else if (kind(expected) === 'object') {
    const missing = Object.keys(expected).filter((k) => !(k in actual));
    const extra = Object.keys(actual).filter((k) => !(k in expected));
    if (missing.length) diffs.push(`${where}: missing ${missing.join(', ')} (got ${show(actual)})`);
    if (extra.length) diffs.push(`${where}: not documented ${extra.join(', ')} (got ${show(actual)})`);
    for (const k of Object.keys(expected)) {
      if (!(k in actual)) continue;
      if (VOLATILE.has(k)) {
        if (kind(expected[k]) !== kind(actual[k])) diffs.push(`${where}.${k}: expected a ${kind(expected[k])}, got ${show(actual[k])}`);
      } else {
        compareShape(expected[k], actual[k], `${where}.${k}`, diffs);
      }
    }
  } else if (expected !== actual) {
    diffs.push(`${where}: expected ${show(expected)}, got ${show(actual)}`);
  }
  return diffs;
}

/** Replaces local {$ref: '#/…'} objects by their targets (the documents have no cycles). */
function deref(doc, node = doc, seen = []) {
  if (Array.isArray(node)) return node.map((n) => deref(doc, n, seen));
  if (!node || typeof node !== 'object') return node;
  if (typeof node.$ref === 'string') {
    if (!node.$ref.startsWith('#/')) throw new Error(`only local $refs are read: ${node.$ref}`);
    if (seen.includes(node.$ref)) throw new Error(`a cycle through ${node.$ref}`);
    return deref(doc, pointer(doc, node.$ref), [...seen, node.$ref]);
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, deref(doc, v, seen)]));
}
function pointer(doc, ref) {
  let node = doc;
  for (const part of ref.slice(2).split('/')) {
    node = node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (node === undefined) throw new Error(`$ref to nothing: ${ref}`);
  }
  return node;
}

const ajv2020 = new Ajv2020({ strict: false, allErrors: true });
const ajv07 = new Ajv({ strict: false, allErrors: true });
const compiled = new Map();
/** Schema errors of value, as text ([] when valid). */
function schemaErrors(validator, schema, value) {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = validator.compile(schema);
    compiled.set(schema, validate);
  }
  if (validate(value)) return [];
  return validate.errors.map((e) => `schema: ${e.instancePath || '$'} ${e.message}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ''}`);
}

// ------------------------------------------------------------------ HTTP

async function http(method, url, { headers = {}, body, auth } = {}) {
  const h = { ...headers };
  if (auth) h.Authorization = `Bearer ${auth}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const r = await fetch(url, { method, headers: h, body: body === undefined ? undefined : body, redirect: 'manual' });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, mediaType: (r.headers.get('content-type') || '').split(';')[0].trim().toLowerCase() };
}

// ------------------------------------------------------------------ sockets

/** A socket of one user: every frame it received, positions per room, and waiting for a frame. */
class Socket {
  constructor(userId, ws) {
    this.userId = userId;
    this.ws = ws;
    this.frames = []; // {frame, consumed}
    this.positions = new Map(); // room -> {epoch, seq}
    this.waiters = [];
    this.closed = null;
    ws.on('message', (data, binary) => {
      let frame;
      try {
        frame = JSON.parse(data.toString('utf8'));
      } catch {
        frame = { unparsable: data.toString('utf8') };
      }
      if (binary) frame = { binary: true };
      const entry = { frame, consumed: false };
      this.frames.push(entry);
      if (frame.room && typeof frame.epoch === 'string' && Number.isInteger(frame.seq)) {
        this.positions.set(frame.room, { epoch: frame.epoch, seq: frame.seq });
      }
      this.wake();
    });
    ws.on('error', (e) => {
      this.error = e; // reported through what the socket then fails to receive
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      this.wake();
    });
  }

  wake() {
    for (const w of [...this.waiters]) w();
  }

  /** The first frame not yet taken that matches, within WAIT_MS; null when none came. */
  take(match, ms = WAIT_MS) {
    return new Promise((resolve) => {
      const look = () => {
        const e = this.frames.find((f) => !f.consumed && match(f.frame));
        if (e) {
          e.consumed = true;
          done(e.frame);
        }
      };
      const done = (v) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== look);
        resolve(v);
      };
      const timer = setTimeout(() => done(null), ms);
      this.waiters.push(look);
      look();
    });
  }

  /** The close, within ms; null when the socket stayed open. */
  closeEvent(ms = WAIT_MS) {
    return new Promise((resolve) => {
      if (this.closed) return resolve(this.closed);
      const look = () => {
        if (this.closed) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== look);
          resolve(this.closed);
        }
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== look);
        resolve(null);
      }, ms);
      this.waiters.push(look);
    });
  }

  send(frame) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a request with an id and takes the answer with that id. */
  async request(frame) {
    this.send(frame);
    return this.take((f) => f.id === frame.id);
  }

  close() {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close(1000);
      setTimeout(resolve, 2000);
    });
  }
}

function wsUrl(base) {
  return base.replace(/^http/, 'ws') + '/ws';
}

/** Opens a socket for a user with that user's access token (Authorization header); resolves once open. */
function openSocket(base, userId, token = accessToken(userId)) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(base), { headers: { Authorization: `Bearer ${token}` } });
    const s = new Socket(userId, ws);
    ws.once('open', () => resolve(s));
    ws.once('unexpected-response', (req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

// ------------------------------------------------------------------ the code

function read(file) {
  return fs.readFileSync(file, 'utf8');
}

/** Java tokens: identifiers, string literals (decoded), punctuation; comments dropped. */
function tokenize(src) {
  const toks = [];
  let i = 0;
  let line = 1;
  while (i < src.length) {
    const c = src[i];
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (src.startsWith('//', i)) {
      i = src.indexOf('\n', i);
      if (i < 0) break;
    } else if (src.startsWith('/*', i)) {
      const j = src.indexOf('*/', i + 2);
      line += (src.slice(i, j).match(/\n/g) || []).length;
      i = j + 2;
    } else if (src.startsWith('"""', i)) {
      const j = src.indexOf('"""', i + 3);
      toks.push({ t: 'str', v: src.slice(i + 3, j), line });
      line += (src.slice(i, j).match(/\n/g) || []).length;
      i = j + 3;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let v = '';
      while (src[j] !== c) {
        if (src[j] === '\\') {
          v += src[j + 1];
          j += 2;
        } else {
          v += src[j++];
        }
      }
      toks.push({ t: c === '"' ? 'str' : 'chr', v, line });
      i = j + 1;
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i;
      while (j < src.length && /[\w$]/.test(src[j])) j++;
      toks.push({ t: 'id', v: src.slice(i, j), line });
      i = j;
    } else if (src.startsWith('->', i) || src.startsWith('::', i)) {
      toks.push({ t: 'p', v: src.slice(i, i + 2), line });
      i += 2;
    } else {
      toks.push({ t: 'p', v: c, line });
      i++;
    }
  }
  return toks;
}

const isP = (tok, v) => tok?.t === 'p' && tok.v === v;

/** The tokens of the body of a class's `Route route()` method. */
function routeMethodBody(toks, file) {
  for (let i = 0; i < toks.length - 4; i++) {
    if (toks[i].t === 'id' && toks[i].v === 'Route' && toks[i + 1].v === 'route' && toks[i + 2].v === '(' && toks[i + 3].v === ')' && toks[i + 4].v === '{') {
      let depth = 0;
      for (let j = i + 4; j < toks.length; j++) {
        if (toks[j].t === 'p' && toks[j].v === '{') depth++;
        if (toks[j].t === 'p' && toks[j].v === '}' && --depth === 0) return toks.slice(i + 5, j);
      }
    }
  }
  throw new Error(`${file}: no Route route() method`);
}

const METHODS = { get: 'GET', post: 'POST', put: 'PUT', delete: 'DELETE', patch: 'PATCH', head: 'HEAD', options: 'OPTIONS' };
const IGNORED_DIRECTIVES = new Set(['extractRequest', 'handleExceptions', 'respondWithHeader', 'respondWithHeaders', 'concat', 'complete',
  'completeWithFuture', 'entity', 'body', 'route']);

/**
 * The routes one Routes-like class serves: {method, segs, query, dir, file, line}. Reads pekko-http's
 * DSL as written: path/pathPrefix (a string: its segments; a lambda parameter: a {param}),
 * pathSingleSlash, the method directives, getFromResource(Directory), parameter(Optional), and
 * `field::route` / `field.route()` (another class's routes, mounted at that point).
 */
function routesOf(className, prefix = [], demo = false) {
  const file = path.join(JAVA, 'http', `${className}.java`);
  const src = read(file);
  const body = routeMethodBody(tokenize(src), file);
  const rel = path.relative(SOURCE_DIR, file);
  const routes = [];
  const stack = []; // one frame per open parenthesis: {segs, route}
  const segsNow = () => [...prefix, ...stack.flatMap((f) => f.segs)];
  const routeNow = () => [...stack].reverse().find((f) => f.route)?.route;
  let pending = null;
  for (let i = 0; i < body.length; i++) {
    const t = body[i];
    if (t.t === 'p' && t.v === '(') {
      stack.push(pending || { segs: [] });
      pending = null;
      continue;
    }
    if (t.t === 'p' && t.v === ')') {
      stack.pop();
      continue;
    }
    if (t.t !== 'id') continue;
    const next = body[i + 1];
    // another class's routes: field::route or field.route()
    if ((isP(next, '::') && body[i + 2]?.v === 'route') || (isP(next, '.') && body[i + 2]?.v === 'route' && isP(body[i + 3], '('))) {
      const type = new RegExp(`([A-Z]\\w*)\\s+${t.v}\\s*[;=]`).exec(src)?.[1];
      if (!type) throw new Error(`${rel}:${t.line}: cannot tell the class of ${t.v}`);
      routes.push(...routesOf(type, segsNow(), demo || type === 'DemoRoutes'));
      i += 2;
      continue;
    }
    if (!isP(next, '(') || isP(body[i - 1], '.')) continue; // a directive, not a method of an object
    const arg = body[i + 2];
    const name = t.v;
    if (name === 'path' || name === 'pathPrefix') {
      let segs;
      if (arg.t === 'str') segs = arg.v.split('/').filter(Boolean);
      else if (arg.t === 'id' && isP(body[i + 3], '->')) segs = ['{}'];
      else throw new Error(`${rel}:${t.line}: cannot read the path matcher of ${name}(…)`);
      pending = { segs };
      const enclosing = routeNow();
      if (enclosing) enclosing.hasInnerPath = true;
    } else if (name === 'pathSingleSlash' || name === 'pathEnd' || name === 'pathEndOrSingleSlash') {
      pending = { segs: [] };
    } else if (METHODS[name]) {
      const route = { method: METHODS[name], segs: segsNow(), query: [], dir: null, file: rel, line: t.line, demo };
      routes.push(route);
      pending = { segs: [], route };
    } else if (name === 'getFromResource' || name === 'getFromResourceDirectory') {
      if (arg.t !== 'str') throw new Error(`${rel}:${t.line}: ${name} of something that is not a literal`);
      const enclosing = routeNow();
      if (enclosing && name === 'getFromResourceDirectory') enclosing.dir = arg.v;
      if (!enclosing) {
        routes.push({ method: 'GET', segs: segsNow(), query: [], dir: name === 'getFromResourceDirectory' ? arg.v : null, file: rel, line: t.line, demo });
      }
    } else if (name === 'parameter' || name === 'parameterOptional') {
      const enclosing = routeNow();
      if (!enclosing) throw new Error(`${rel}:${t.line}: a query parameter outside a method directive`);
      // parameter("name", …) or, with an unmarshaller, parameter(UNMARSHALLER, "name", …)
      const paramName = arg.t === 'str' ? arg : secondArgument(body, i + 2);
      if (paramName?.t !== 'str') throw new Error(`${rel}:${t.line}: cannot read the name of ${name}(…)`);
      enclosing.query.push({ name: paramName.v, required: name === 'parameter' });
    } else if (/^(parameter|header|cookie|formField)/.test(name)) {
      throw new Error(`${rel}:${t.line}: ${name}(…) is not read by this check yet`);
    } else if (/^(path|pathPrefix|rawPath|pathSuffix|redirect)/.test(name)) {
      throw new Error(`${rel}:${t.line}: ${name}(…) is not read by this check yet`);
    } else if (!IGNORED_DIRECTIVES.has(name) && /^[a-z]/.test(name) && /^(get|post|put|delete|patch)[A-Z]/.test(name)) {
      throw new Error(`${rel}:${t.line}: ${name}(…) is not read by this check yet`);
    }
  }
  return routes.filter((r) => !r.hasInnerPath);
}

/** The token after the first comma outside nested parentheses, from the first argument's token at {@code from}. */
function secondArgument(tokens, from) {
  let depth = 0;
  for (let j = from; j < tokens.length; j++) {
    const x = tokens[j];
    if (x.t === 'p' && x.v === '(') depth++;
    else if (x.t === 'p' && x.v === ')') {
      if (depth-- === 0) return null;
    } else if (depth === 0 && x.t === 'p' && x.v === ',') return tokens[j + 1];
  }
  return null;
}

/** Every file below a resource directory of the jar, as paths relative to it. */
function filesUnder(dir, rel = '') {
  const abs = path.join(RESOURCES_DIR, dir, rel);
  if (!fs.existsSync(abs)) throw new Error(`no ${abs}: is LMS_RESOURCES_DIR the jar's resources (target/classes)?`);
  return fs.readdirSync(abs, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(dir, path.posix.join(rel, e.name)) : [path.posix.join(rel, e.name)]);
}

const templateOf = (p) => p.replace(/\{[^}]+\}/g, '{}');
const segsOf = (p) => p.split('/').filter(Boolean);
/** A documented template (with {params}) that matches a concrete path. */
const matches = (template, concrete) => {
  const t = segsOf(template);
  const c = segsOf(concrete);
  return t.length === c.length && t.every((s, i) => s.startsWith('{') || s === c[i]);
};

function codeFacts() {
  const clientFrame = read(path.join(JAVA, 'protocol', 'ClientFrame.java'));
  const serverFrames = read(path.join(JAVA, 'protocol', 'ServerFrames.java'));
  const errorCodes = read(path.join(JAVA, 'protocol', 'ErrorCodes.java'));
  const closeCodes = read(path.join(JAVA, 'protocol', 'CloseCodes.java'));
  return {
    routes: routesOf('Routes'),
    clientTypes: new Set([...clientFrame.matchAll(/case\s+"([^"]+)"\s*->/g)].map((m) => m[1])),
    serverTypes: new Set([
      ...[...serverFrames.matchAll(/start\("([^"]+)"/g)].map((m) => m[1]),
      ...[...serverFrames.matchAll(/"\{\\"type\\":\\"([^\\"]+)\\"/g)].map((m) => m[1]),
    ]),
    errorCodes: new Set([...errorCodes.matchAll(/static\s+final\s+String\s+\w+\s*=\s*"([^"]+)"/g)].map((m) => m[1])),
    closeCodes: new Set([...closeCodes.matchAll(/static\s+final\s+int\s+\w+\s*=\s*(\d+)\s*;/g)].map((m) => Number(m[1]))),
  };
}

// ------------------------------------------------------------------ the documents

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function operationsOf(openapi) {
  const ops = [];
  for (const [p, item] of Object.entries(openapi.paths || {})) {
    for (const m of Object.keys(item)) {
      if (HTTP_METHODS.includes(m)) ops.push({ path: p, method: m.toUpperCase(), op: item[m], params: [...(item.parameters || []), ...(item[m].parameters || [])] });
    }
  }
  return ops;
}

function checkAgainstCode(openapi, asyncapi, asyncRaw, code) {
  section('the documents against the code');
  const ops = operationsOf(openapi);
  const label = (r) => `${r.method} /${r.segs.join('/')}${r.dir ? ` (files of ${r.dir})` : ''} (${r.file}:${r.line})`;

  // every route the code serves is documented
  for (const r of code.routes) {
    const template = '/' + r.segs.join('/');
    if (r.dir) {
      const files = filesUnder(r.dir);
      const missing = files.filter((f) => !ops.some((o) => o.method === 'GET' && matches(o.path, `${template === '/' ? '' : template}/${f}`)));
      check(`route ${label(r)} is documented: ${files.length} files`, missing.map((f) => `GET ${template === '/' ? '' : template}/${f} is not in openapi.yaml`));
      continue;
    }
    const op = ops.find((o) => o.method === r.method && templateOf(o.path) === template.replace(/\{\}/g, '{}'));
    if (!op) {
      fail(`route ${label(r)} is documented`, 'not in openapi.yaml');
      continue;
    }
    const diffs = [];
    if (Boolean(op.op['x-demo-only']) !== r.demo) diffs.push(r.demo ? 'a demo route without x-demo-only: true' : 'x-demo-only on a route every node serves');
    const documentedQuery = op.params.filter((p) => p.in === 'query');
    for (const q of r.query) {
      const d = documentedQuery.find((p) => p.name === q.name);
      if (!d) diffs.push(`query parameter ${q.name} is not documented`);
      else if (Boolean(d.required) !== q.required) diffs.push(`query parameter ${q.name}: required is ${q.required} in the code`);
    }
    for (const d of documentedQuery) {
      if (!r.query.some((q) => q.name === d.name)) diffs.push(`query parameter ${d.name} is not read by the code`);
    }
    check(`route ${label(r)} is documented as ${op.method} ${op.path}`, diffs);
  }
  // every documented operation is a route of the code
  for (const o of ops) {
    const served = code.routes.some((r) => {
      const template = '/' + r.segs.join('/');
      if (r.method !== o.method) return false;
      if (!r.dir) return template === templateOf(o.path);
      const prefix = template === '/' ? '' : template;
      if (!o.path.startsWith(prefix + '/')) return false;
      const rest = o.path.slice(prefix.length + 1);
      return /^\{[^}]+\}$/.test(rest) || filesUnder(r.dir).includes(rest);
    });
    if (served) ok(`${o.method} ${o.path} is a route of the code`);
    else fail(`${o.method} ${o.path} is a route of the code`, 'documented, but no route in Routes.java, BackendApi.java or DemoRoutes.java serves it');
  }

  // frame types
  const channel = asyncapi.channels.socket;
  // a message as its operation names it (#/channels/<channel>/messages/<key>): the socket's, or the
  // HTTP fallback's (the sse channel, whose `close` the socket does not have)
  const refOf = (ref) => ref.$ref;
  const receiveKeys = new Set();
  const sendKeys = new Set();
  for (const op of Object.values(asyncRaw.operations)) {
    for (const m of op.messages || []) (op.action === 'receive' ? receiveKeys : sendKeys).add(refOf(m));
    for (const m of op.reply?.messages || []) sendKeys.add(refOf(m));
  }
  const typeOf = (ref) => {
    const [, , channelName, , key] = ref.split('/');
    return asyncapi.channels[channelName]?.messages?.[key]?.payload?.properties?.type?.const;
  };
  const documentedClient = new Set([...receiveKeys].map(typeOf).filter(Boolean));
  const documentedServer = new Set([...sendKeys].map(typeOf).filter(Boolean));
  const sameSets = (what, code, doc) => {
    const diffs = [];
    for (const t of code) if (!doc.has(t)) diffs.push(`${show(t)} is not documented`);
    for (const t of doc) if (!code.has(t)) diffs.push(`${show(t)} is documented but not in the code`);
    check(`${what}: ${[...code].sort().join(', ')}`, diffs);
  };
  sameSets('client frame types (ClientFrame.java) are the receive operations of asyncapi.yaml', code.clientTypes, documentedClient);
  sameSets('server frame types (ServerFrames.java) are the send operations and replies of asyncapi.yaml', code.serverTypes, documentedServer);

  // error codes: the socket's in asyncapi.yaml, the HTTP ones in openapi.yaml
  const socketCodes = new Set(channel.messages.error.payload.properties.code.enum);
  const httpCodes = new Set(openapi.components.schemas.Error.properties.error.enum);
  const diffs = [];
  for (const c of code.errorCodes) if (!socketCodes.has(c) && !httpCodes.has(c)) diffs.push(`${c} is in neither document`);
  for (const c of socketCodes) if (!code.errorCodes.has(c)) diffs.push(`asyncapi.yaml's ${c} is not in ErrorCodes.java`);
  for (const c of httpCodes) if (!code.errorCodes.has(c)) diffs.push(`openapi.yaml's ${c} is not in ErrorCodes.java`);
  check(`error codes (ErrorCodes.java): ${[...code.errorCodes].map((c) => `${c} [${[socketCodes.has(c) && 'socket', httpCodes.has(c) && 'http'].filter(Boolean).join('+')}]`).join(', ')}`, diffs);

  // close codes
  sameSets('close codes (CloseCodes.java) are the x-close-codes of asyncapi.yaml', code.closeCodes, new Set((channel['x-close-codes'] || []).map((c) => c.code)));
}

// ------------------------------------------------------------------ OpenAPI examples

/** The request that goes with the example named `key` of one response. */
function buildRequest(base, o, key, xcheck) {
  let url = o.path;
  const query = [];
  const headers = {};
  const omit = new Set(xcheck.omit || []);
  for (const p of o.params) {
    if (omit.has(p.name)) continue;
    const examples = p.examples || {};
    let value = examples[key]?.value;
    if (value === undefined && (p.in === 'path' || (p.in === 'query' && p.required))) {
      value = p.example !== undefined ? p.example : Object.values(examples)[0]?.value;
      if (value === undefined) throw new Error(`parameter ${p.name} of ${o.method} ${o.path} has no example`);
    }
    if (value === undefined) continue;
    if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(String(value)));
    else if (p.in === 'query') query.push(`${encodeURIComponent(p.name)}=${encodeURIComponent(String(value))}`);
    else if (p.in === 'header') headers[p.name] = String(value);
  }
  let body;
  const json = o.op.requestBody?.content?.['application/json'];
  if (json) {
    const examples = json.examples || {};
    const e = examples[key] || Object.values(examples)[0];
    if (!e) throw new Error(`${o.method} ${o.path} has a request body and no example of it`);
    body = JSON.stringify(e.value);
  }
  const authSpec = xcheck.auth || (o.path.startsWith('/api/') ? 'service' : 'none');
  const auth = authSpec === 'none' ? undefined : authSpec === 'service' ? serviceToken : accessToken(authSpec);
  return { url: base + url + (query.length ? `?${query.join('&')}` : ''), headers, body, auth, authSpec, requestExample: json ? (json.examples?.[key] ? key : Object.keys(json.examples || {})[0]) : null };
}

function compareBody(mediaType, example, text, schema, o) {
  const diffs = [];
  if (mediaType === 'application/json') {
    let value;
    try {
      value = JSON.parse(text);
    } catch {
      return [`not JSON: ${show(text)}`];
    }
    compareShape(example, value, '$', diffs);
    if (schema) diffs.push(...schemaErrors(ajv2020, schema, value));
  } else if (o.path === '/metrics') {
    const names = (t) => new Set(t.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]));
    const have = names(text);
    for (const n of names(String(example))) if (!have.has(n)) diffs.push(`no metric ${n}`);
  } else {
    for (const line of String(example).split('\n').map((l) => l.trim()).filter(Boolean)) {
      if (!text.includes(line)) diffs.push(`the answer has no line ${show(line)}`);
    }
  }
  return diffs;
}

/** Every operation whose answers were replayed with another status than 404. */
const answered = new Set();

async function replayOpenApi(base, openapi, { demoOnly }) {
  for (const o of operationsOf(openapi)) {
    if (Boolean(o.op['x-demo-only']) !== demoOnly) continue;
    for (const [status, response] of Object.entries(o.op.responses || {})) {
      const content = response.content || {};
      if (Object.keys(content).length === 0) {
        const xcheck = response['x-check'];
        if (xcheck?.upgrade) await replayUpgrade(base, o, status, xcheck);
        continue; // a response without a body and without x-check: nothing to replay
      }
      for (const [mediaType, media] of Object.entries(content)) {
        const examples = media.examples || (media.example !== undefined ? { example: { value: media.example } } : {});
        if (Object.keys(examples).length === 0) fail(`${o.method} ${o.path} ${status} ${mediaType}`, 'no example');
        for (const [key, example] of Object.entries(examples)) {
          const what = `${o.method} ${o.path} → ${status} ${key}`;
          const xcheck = example['x-check'] || {};
          if (xcheck.replay === false) {
            skip(what, xcheck.why || 'not replayed');
            continue;
          }
          let req;
          try {
            req = buildRequest(base, o, key, xcheck);
          } catch (e) {
            fail(what, e.message);
            continue;
          }
          const r = await http(o.method, req.url, req);
          const diffs = [];
          if (String(r.status) !== status) diffs.push(`status ${r.status}, not ${status} (${show(r.text)})`);
          if (r.mediaType !== mediaType.toLowerCase()) diffs.push(`media type ${r.mediaType}, not ${mediaType}`);
          for (const [name, h] of Object.entries(response.headers || {})) {
            const v = r.headers.get(name);
            if (v === null) diffs.push(`no ${name} header`);
            else if (h.schema?.const !== undefined && v !== String(h.schema.const)) diffs.push(`${name}: ${v}, not ${h.schema.const}`);
          }
          if (diffs.length === 0) diffs.push(...compareBody(mediaType.toLowerCase(), example.value, r.text, media.schema, o));
          if (r.status !== 404) answered.add(`${o.method} ${o.path}`);
          const sent = [req.authSpec !== 'none' ? `as ${req.authSpec}` : 'no token', req.requestExample && `body ${req.requestExample}`].filter(Boolean).join(', ');
          check(`${what} (${decodeURI(req.url.slice(base.length))}, ${sent})`, diffs);
        }
      }
    }
  }
}

/** GET /ws answered 101, then welcome. */
async function replayUpgrade(base, o, status, xcheck) {
  const what = `${o.method} ${o.path} → ${status} (a real upgrade, as ${xcheck.auth})`;
  try {
    const s = await openSocket(base, xcheck.auth);
    const welcome = await s.take(() => true);
    await s.close();
    answered.add(`${o.method} ${o.path}`);
    check(what, welcome?.type === 'welcome' ? [] : [`first frame ${show(welcome)}`]);
  } catch (e) {
    fail(what, e.message);
  }
}

/** The sockets the OpenAPI examples assume (see info.description). */
async function httpFixture(base) {
  const grace = await openSocket(base, 't1');
  const ada = await openSocket(base, 'u17');
  const lin = await openSocket(base, 'u23');
  const steps = [
    ['t1 joins course:42', () => grace.request({ type: 'join', id: 'f-1', room: 'course:42' }), 'joined'],
    ['u17 joins course:42', () => ada.request({ type: 'join', id: 'f-2', room: 'course:42' }), 'joined'],
    ['u23 joins live:class-7', () => lin.request({ type: 'join', id: 'f-3', room: 'live:class-7', token: jwt({ sub: 'u23', room: 'live:class-7', role: 'student' }) }), 'joined'],
  ];
  for (const [what, run, type] of steps) {
    const answer = await run();
    check(`fixture: ${what}`, answer?.type === type ? [] : [`answered ${show(answer)}`]);
  }
  const n = await http('POST', `${base}/api/v1/users/u17/notifications`, { auth: serviceToken, body: JSON.stringify({ event: 'course.announcement', data: { text: 'Quiz on Friday' } }) });
  const seq = n.status === 202 ? JSON.parse(n.text).seq : null;
  check('fixture: the backend notifies u17 (course.announcement)', n.status === 202 && seq === 1 ? [] : [`answered ${n.status} ${n.text} (a fresh node gives seq 1)`]);
  const read = await ada.request({ type: 'publish', id: 'f-4', room: 'user:u17', event: 'notification.read', data: { seq } });
  check('fixture: u17 marks it read', read?.type === 'ack' ? [] : [`answered ${show(read)}`]);
  return [grace, ada, lin];
}

/** Closes the sockets and waits until their users are offline. */
async function closeAll(base, sockets) {
  await Promise.all(sockets.map((s) => s.close()));
  const users = [...new Set(sockets.map((s) => s.userId))];
  const deadline = Date.now() + WAIT_MS;
  for (const u of users) {
    for (;;) {
      const r = await http('GET', `${base}/api/v1/users/${u}/presence`, { auth: serviceToken });
      if (r.status === 200 && JSON.parse(r.text).online === false) break;
      if (Date.now() > deadline) {
        fail(`fixture: ${u} is offline after closing their sockets`, r.text);
        break;
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  }
}

// ------------------------------------------------------------------ AsyncAPI examples

async function replayAsyncApi(base, asyncapi, asyncRaw) {
  const channel = asyncapi.channels.socket;
  const keyOf = (ref) => ref.$ref.split('/').pop();
  const clientKeys = new Set(Object.values(asyncRaw.operations).filter((o) => o.action === 'receive').flatMap((o) => o.messages.map(keyOf)));
  const serverSchemas = new Map(); // frame type -> payload schema
  for (const [key, m] of Object.entries(channel.messages)) {
    if (!clientKeys.has(key) && m.payload?.properties?.type?.const) serverSchemas.set(m.payload.properties.type.const, m.payload);
  }

  // every example, with its x-check entry
  const all = [];
  for (const [key, m] of Object.entries(channel.messages)) {
    const checks = m['x-check'] || {};
    const names = new Set();
    for (const ex of m.examples || []) {
      names.add(ex.name);
      const c = checks[ex.name];
      const where = `${key}/${ex.name}`;
      if (!c) {
        fail(where, 'an example without an x-check entry (step, after, connect, or replay: false and why)');
        continue;
      }
      const client = clientKeys.has(key);
      if (key !== 'unreadable') {
        const errs = schemaErrors(ajv07, m.payload, ex.payload);
        if (errs.length) fail(`${where} matches its message's payload schema`, errs.join('; '));
      }
      all.push({ key, name: ex.name, payload: ex.payload, c, client, where });
    }
    for (const n of Object.keys(checks)) if (!names.has(n)) fail(`${key} x-check.${n}`, 'names no example');
  }
  const byName = new Map(all.map((e) => [e.name, e]));
  for (const e of all) {
    const roles = ['step', 'after', 'connect'].filter((k) => e.c[k] !== undefined);
    if (e.c.replay === false ? roles.length > 0 || !e.c.why : roles.length !== 1) {
      fail(e.where, `x-check needs exactly one of step, after, connect, or replay: false with why (has ${show(e.c)})`);
    }
  }
  for (const e of all) {
    if (e.c.after && !byName.get(e.c.after)?.c.step) fail(e.where, `after: ${e.c.after} is not a step`);
  }

  const sockets = new Map();
  const socketOf = async (user) => {
    if (!sockets.has(user)) {
      const s = await openSocket(base, user);
      sockets.set(user, s);
      const welcome = await s.take(() => true);
      const expected = all.find((e) => e.c.connect === user);
      if (expected) {
        const diffs = welcome ? compareShape(expected.payload, welcome) : ['no frame'];
        if (welcome) diffs.push(...schemaErrors(ajv07, serverSchemas.get('welcome'), welcome));
        check(`${expected.where}: ${user} connects, first frame`, diffs);
      } else if (welcome?.type !== 'welcome') {
        fail(`${user} connects`, `first frame ${show(welcome)}`);
      }
    }
    return sockets.get(user);
  };

  for (const e of all) {
    if (e.c.replay === false) skip(e.where, e.c.why || 'not replayed');
  }
  const steps = all.filter((e) => e.c.step !== undefined).sort((a, b) => a.c.step - b.c.step);
  for (const stim of steps) {
    const as = stim.c.as || stim.c.on;
    let sent;
    if (stim.client) {
      const s = await socketOf(as);
      const payload = structuredClone(stim.payload);
      if (stim.c.token !== undefined) payload.token = tokenFor(stim.c.token);
      if (stim.c.since) {
        const pos = s.positions.get(payload.room);
        if (!pos) {
          fail(stim.where, `${as} saw no position of ${payload.room} to recover from`);
          continue;
        }
        payload.since = { epoch: pos.epoch, seq: pos.seq - (stim.c.since.back || 0) };
      }
      for (let i = 0; i < (stim.c.repeat || 1); i++) s.send(payload);
      sent = `${as} sends ${show({ ...payload, ...(payload.token ? { token: '…' } : {}) })}${stim.c.repeat ? ` ×${stim.c.repeat}` : ''}`;
    } else if (stim.c.trigger) {
      await socketOf(stim.c.on);
      const t = stim.c.trigger;
      const r = await http(t.method, base + t.path.split('/').map((seg) => encodeURIComponent(seg)).join('/'), {
        auth: serviceToken, body: t.body === undefined ? undefined : JSON.stringify(t.body),
      });
      if (r.status >= 300) {
        fail(stim.where, `${t.method} ${t.path} answered ${r.status} ${r.text}`);
        continue;
      }
      sent = `the backend: ${t.method} ${t.path} → ${r.status}`;
    } else {
      fail(stim.where, 'a step that is neither a client frame nor a trigger');
      continue;
    }
    const expected = all.filter((e) => e.c.after === stim.name || (e === stim && !e.client));
    if (expected.length === 0) fail(`step ${stim.c.step} ${stim.where}`, 'nothing is expected after it');
    for (const exp of expected) {
      const on = exp.c.on || as;
      const s = await socketOf(on);
      const p = exp.payload;
      const frame = await s.take((f) => f.type === p.type && f.id === p.id && (p.room === undefined || f.room === p.room));
      const diffs = frame ? compareShape(p, frame) : [`no ${p.type} frame${p.id !== undefined ? ` with id ${p.id}` : ' without id'} came within ${WAIT_MS} ms`];
      if (frame) diffs.push(...schemaErrors(ajv07, serverSchemas.get(p.type), frame));
      check(`step ${stim.c.step}: ${sent}; ${on} gets ${exp.where}`, diffs);
    }
  }

  // every frame the engine sent in the replay is of a documented type and matches its schema
  let frames = 0;
  const bad = [];
  for (const s of sockets.values()) {
    for (const { frame } of s.frames) {
      frames++;
      const schema = serverSchemas.get(frame.type);
      if (!schema) bad.push(`${s.userId} got an undocumented frame ${show(frame)}`);
      else for (const err of schemaErrors(ajv07, schema, frame)) bad.push(`${show(frame)}: ${err}`);
    }
  }
  check(`all ${frames} frames the engine sent in the replay match their message's schema`, [...new Set(bad)].slice(0, 10));
  await closeAll(base, [...sockets.values()]);

  // close codes the engine can be made to send here
  for (const entry of channel['x-close-codes'] || []) {
    const how = entry['x-check']?.send;
    if (!how) continue;
    const what = `close ${entry.code} (${entry.name}) after ${how}`;
    const user = `u-close-${entry.code}`;
    ACTORS[user] = { name: user, courses: {} };
    try {
      const s = await openSocket(base, user);
      await s.take((f) => f.type === 'welcome');
      if (how === 'binary') s.ws.send(Buffer.from([1, 2, 3]), { binary: true });
      else if (how === 'oversized') s.send('{"type":"ping","pad":"' + 'x'.repeat(65536) + '"}');
      else if (how === 'flood') for (let i = 0; i < 200; i++) s.send({ type: 'ping' });
      else throw new Error(`unknown x-check.send ${how}`);
      const closed = await s.closeEvent();
      const diffs = [];
      if (!closed) diffs.push('the socket stayed open');
      else {
        if (closed.code !== entry.code) diffs.push(`closed with ${closed.code} ${show(closed.reason)}`);
        if (entry.reason === '{"retryAfterMs": N}') {
          let advice;
          try {
            advice = JSON.parse(closed.reason);
          } catch {
            advice = null;
          }
          if (!advice || !Number.isInteger(advice.retryAfterMs) || advice.retryAfterMs < 1000 || advice.retryAfterMs > 10000 || Object.keys(advice).length !== 1) {
            diffs.push(`reason ${show(closed.reason)} is not {"retryAfterMs": 1000..10000}`);
          }
        } else if (entry.reason !== undefined && closed.reason !== entry.reason) {
          diffs.push(`reason ${show(closed.reason)}, not ${show(entry.reason)}`);
        }
      }
      check(what, diffs);
    } catch (e) {
      fail(what, e.message);
    }
  }
}

// ------------------------------------------------------------------ main

async function fetchDocument(base, name, repoFile) {
  const r = await http('GET', `${base}/docs/${name}`);
  const diffs = [];
  if (r.status !== 200) diffs.push(`status ${r.status}`);
  if (r.mediaType !== 'application/yaml') diffs.push(`media type ${r.mediaType}`);
  if (r.headers.get('access-control-allow-origin') !== '*') diffs.push('no Access-Control-Allow-Origin: *');
  if (fs.existsSync(repoFile) && r.status === 200 && read(repoFile) !== r.text) diffs.push(`the served copy differs from ${path.relative(SOURCE_DIR, repoFile)}: rebuild the jar (process-resources)`);
  check(`GET ${base}/docs/${name} (${r.text.length} chars)`, diffs);
  if (r.status !== 200) throw new Error(`cannot check ${name} without it`);
  return r.text;
}

async function main() {
  if (!BASE) throw new Error('LMS_URL is not set (the node to check, e.g. http://127.0.0.1:8080)');
  if (!SECRET) throw new Error('LMS_JWT_SECRET is not set (the node\'s HS256 secret, to mint the replay\'s tokens)');
  if (!serviceToken) serviceToken = jwt({ sub: 'platform-backend', roles: ['service'] });
  console.log(`checking the API documents of ${BASE}${DEMO ? ` and the demo node ${DEMO}` : ''} against ${SOURCE_DIR}`);

  section('1. fetched from the node');
  const openText = await fetchDocument(BASE, 'openapi.yaml', path.join(SOURCE_DIR, 'docs', 'openapi.yaml'));
  const asyncText = await fetchDocument(BASE, 'asyncapi.yaml', path.join(SOURCE_DIR, 'docs', 'asyncapi.yaml'));

  section('2. validated');
  const openRaw = YAML.parse(openText);
  try {
    const api = await SwaggerParser.validate(structuredClone(openRaw));
    check(`openapi.yaml is valid OpenAPI ${api.openapi} (@apidevtools/swagger-parser): ${Object.keys(api.paths).length} paths`,
      /^3\.1\./.test(api.openapi) ? [] : [`version ${api.openapi}, not 3.1`]);
  } catch (e) {
    fail('openapi.yaml is valid OpenAPI 3.1 (@apidevtools/swagger-parser)', e.message);
  }
  const diagnostics = await new AsyncApiParser().validate(asyncText);
  const errors = diagnostics.filter((d) => d.severity === 0);
  for (const d of diagnostics.filter((d) => d.severity !== 0)) console.log(`  note  asyncapi.yaml (severity ${d.severity}) ${d.code}: ${d.message}`);
  const asyncRaw = YAML.parse(asyncText);
  check(`asyncapi.yaml is valid AsyncAPI ${asyncRaw.asyncapi} (@asyncapi/parser): ${errors.length} errors, ${diagnostics.length - errors.length} other diagnostics`,
    [...errors.map((d) => `${d.code}: ${d.message} at ${(d.path || []).join('.')}`), ...(/^3\.0\./.test(asyncRaw.asyncapi) ? [] : [`version ${asyncRaw.asyncapi}, not 3.0`])]);

  const openapi = await SwaggerParser.dereference(structuredClone(openRaw));
  const asyncapi = deref(asyncRaw);

  checkAgainstCode(openapi, asyncapi, asyncRaw, codeFacts());

  section(`3. OpenAPI examples replayed on ${BASE}`);
  const fixture = await httpFixture(BASE);
  await replayOpenApi(BASE, openapi, { demoOnly: false });
  await closeAll(BASE, fixture);

  section('4. demo-only operations');
  for (const o of operationsOf(openapi).filter((x) => x.op['x-demo-only'])) {
    const firstContent = Object.values(o.op.responses['200']?.content || {})[0];
    const req = buildRequest(BASE, o, Object.keys(firstContent?.examples || {})[0], {});
    const r = await http(o.method, req.url, req);
    check(`${o.method} ${o.path} is 404 on a node without --demo`, r.status === 404 ? [] : [`answered ${r.status}`]);
  }
  if (DEMO) await replayOpenApi(DEMO, openapi, { demoOnly: true });
  else skip('the demo-only examples', 'LMS_DEMO_URL is not set');

  section(`5. AsyncAPI examples replayed on ${wsUrl(BASE)}`);
  await replayAsyncApi(BASE, asyncapi, asyncRaw);

  section('6. every operation answered');
  for (const o of operationsOf(openapi)) {
    const id = `${o.method} ${o.path}`;
    if (answered.has(id)) ok(`${id} was answered (not 404) above`);
    else if (o.op['x-demo-only'] && !DEMO) skip(id, 'demo-only, and LMS_DEMO_URL is not set');
    else fail(id, 'no replayed example got an answer other than 404');
  }
}

try {
  await main();
} catch (e) {
  fail('the check', e.stack || e.message);
}
console.log(`\napi documents: ${passed} checks ok, ${failed} failed, ${skipped} not replayed`);
process.exit(failed === 0 ? 0 : 1);

// Real-browser tests of the lms-realtime client (/sdk/lms-realtime.js) and the demo page, against a
// running engine. Debian's chromium driven by playwright-core; no browser is downloaded.
//
//   LMS_JAR=../../../target/lms-realtime.jar node run.mjs   # the runner starts, restarts and stops the engine
//   LMS_ENGINE_CMD='["java","-cp","<classpath>","lms.realtime.Main"]' node run.mjs   # the same, without a jar
//   LMS_URL=http://127.0.0.1:18080 node run.mjs             # an engine started by you (the restart and refresh tests are skipped)
//
// Prints one line per test and, last, "N passed, N failed"; exits 1 when a test failed.

import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const HERE = path.dirname(fileURLToPath(import.meta.url));
// Within the 340 s that BrowserClientTest gives the whole run (this bound plus the 20 s watchdog).
const SUITE_LIMIT_MS = Number(process.env.LMS_SUITE_TIMEOUT_SECONDS || 300) * 1000;
const OUTAGE_MS = Number(process.env.LMS_OUTAGE_SECONDS || 10) * 1000;
const IDLE_MS = 12000;
const HEARTBEAT_SECONDS = 2; // what the runner gives an engine it starts itself
/**
 * The platform's side of an engine the runner starts: an HS256 secret of the run (LMS_JWT_SECRET,
 * 48 bytes), with which the runner mints access tokens as a platform would, of any lifetime (the demo
 * node's /demo/token gives 1 h ones only). The demo node accepts them beside its own. A clock skew of
 * 1 s (LMS_JWT_CLOCK_SKEW_SECONDS; 30 by default) lets a short token's 4001 come soon after its exp.
 */
const PLATFORM_SECRET = crypto.randomBytes(36).toString('base64url');
const CLOCK_SKEW_SECONDS = 1;
const REFRESH_TTL_SECONDS = 4; // lifetime of the tokens of test 8
const REFRESH_RUN_MS = 12000; // how long test 8 watches: three of those lifetimes
const COURSE = 'course:demo-101';
// Outside the work tree by default, so that a run changes no file of the repository.
const SCREENSHOT_DIR = process.env.LMS_SCREENSHOT_DIR
  ? path.resolve(HERE, process.env.LMS_SCREENSHOT_DIR)
  : path.join(os.tmpdir(), 'lms-browser-test-screenshots');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const started = Date.now();
const elapsed = () => ((Date.now() - started) / 1000).toFixed(1) + 's';
const say = (...a) => console.log(...a);

// ------------------------------------------------------------------ the engine

/** A loopback port nobody listens on right now. */
async function freePort() {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

function isLoopback(hostname) {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * The engine the runner owns (mode a): `argv` (java -jar $LMS_JAR, or the command of LMS_ENGINE_CMD)
 * plus --demo, stopped with SIGTERM. It keeps its durable rooms' journal in a data directory of its
 * own (LMS_DATA_DIR), made fresh for the run and kept across restarts, so that a restart keeps the
 * history of `course:` and `user:` rooms as in production, and no run sees what an earlier one left.
 */
class Engine {
  constructor(argv, httpPort, clusterPort) {
    this.argv = argv;
    this.httpPort = httpPort;
    this.clusterPort = clusterPort;
    this.url = `http://127.0.0.1:${httpPort}`;
    this.logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lms-browser-test-')), 'engine.log');
    this.dataDirs = [];
    this.dataDir = null;
    this.newDataDir();
    this.proc = null;
    this.starts = 0;
  }

  /** A fresh, empty LMS_DATA_DIR for the next start: the durable rooms' history is gone, as on a new disk. */
  newDataDir() {
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lms-browser-test-data-'));
    this.dataDirs.push(this.dataDir);
    return this.dataDir;
  }

  /** Removes the data directories of the run (the engine stopped). */
  removeDataDirs() {
    for (const d of this.dataDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  }

  env() {
    return {
      ...process.env,
      LMS_HTTP_HOST: '127.0.0.1',
      LMS_HTTP_PORT: String(this.httpPort),
      LMS_CLUSTER_HOST: '127.0.0.1',
      LMS_CLUSTER_PORT: String(this.clusterPort),
      LMS_SEED_NODES: '',
      LMS_HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS),
      LMS_DATA_DIR: this.dataDir,
      LMS_JWT_SECRET: PLATFORM_SECRET,
      LMS_JWT_CLOCK_SKEW_SECONDS: String(CLOCK_SKEW_SECONDS),
      // The page comes from the engine's origin, the socket may go through the test's proxy (another Host).
      LMS_ALLOWED_ORIGINS: `${this.url},http://localhost:${this.httpPort}`,
    };
  }

  async start() {
    const out = fs.openSync(this.logFile, 'a');
    fs.writeSync(out, `\n===== start #${++this.starts} at ${new Date().toISOString()}\n`);
    const [cmd, ...args] = this.argv;
    this.proc = spawn(cmd, [...args, '--demo'], { env: this.env(), stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const proc = this.proc;
    proc.on('error', (err) => { proc.spawnError = err; }); // e.g. ENOENT: reported by the wait below
    proc.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline) {
      if (proc.spawnError) throw new Error(`could not start the engine (${cmd}): ${proc.spawnError.message}`);
      if (proc.exitCode !== null) throw new Error(`the engine exited with ${proc.exitCode} while starting; log: ${this.logFile}`);
      if (await ready(this.url)) return;
      await sleep(250);
    }
    throw new Error(`the engine was not ready within 60 s; log: ${this.logFile}`);
  }

  /** SIGTERM and wait; answers the exit code (SIGKILL after 30 s, answered as 'killed'). */
  async stop() {
    const proc = this.proc;
    if (!proc || proc.spawnError || proc.exitCode !== null || proc.signalCode !== null) return proc ? proc.exitCode : null;
    proc.kill('SIGTERM');
    const result = await Promise.race([proc.exited, sleep(30000).then(() => null)]);
    if (result === null) {
      proc.kill('SIGKILL');
      await proc.exited;
      return 'killed';
    }
    return result.code ?? result.signal;
  }

  killNow() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }

  tail(n = 30) {
    try {
      return fs.readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

async function ready(base) {
  try {
    const res = await fetch(base + '/health/ready', { signal: AbortSignal.timeout(2000) });
    return res.status === 200;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------ the backend API, as the platform calls it

/** Minted tokens, by user: {exp, iat} of each (test 8 compares them with what the engine answered). */
const minted = new Map();

/**
 * An access token as the platform mints it (contract §1): HS256 with the run's secret, enrolled as a
 * student in the demo course, valid `ttlSeconds` from now (`iat`, `exp` in whole seconds).
 */
function mintAccessToken(user, ttlSeconds) {
  const iat = Math.floor(Date.now() / 1000);
  const claims = { sub: user, name: user, courses: { [COURSE.slice('course:'.length)]: 'student' }, iat, exp: iat + ttlSeconds };
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = part({ alg: 'HS256', typ: 'JWT' }) + '.' + part(claims);
  if (!minted.has(user)) minted.set(user, []);
  minted.get(user).push({ iat, exp: claims.exp });
  return body + '.' + crypto.createHmac('sha256', PLATFORM_SECRET).update(body).digest('base64url');
}

let serviceToken = null;

async function getJson(base, p) {
  const res = await fetch(base + p, { cache: 'no-store' });
  if (!res.ok) throw new Error(`GET ${p} answered ${res.status}`);
  return res.json();
}

/** POST /api/v1/rooms/{room}/events; answers {room, seq, epoch}. */
async function publish(base, room, event, data) {
  for (let attempt = 0; attempt < 2; attempt++) {
    if (!serviceToken) serviceToken = (await getJson(base, '/demo/service-token')).token;
    const res = await fetch(`${base}/api/v1/rooms/${room}/events`, {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + serviceToken, 'Content-Type': 'application/json' },
      body: JSON.stringify({ event, data }),
    });
    if (res.status === 401 && attempt === 0) {
      serviceToken = null; // a restarted demo engine signs with a new secret
      continue;
    }
    const body = await res.json().catch(() => ({}));
    assert.equal(res.status, 202, `backend publish answered ${res.status} ${JSON.stringify(body)}`);
    assert.equal(body.room, room);
    assert.equal(typeof body.seq, 'number');
    assert.equal(typeof body.epoch, 'string');
    return body;
  }
  throw new Error('unreachable');
}

/**
 * Does the engine take a socket whose Origin is its own origin but whose Host is another (the proxy's)?
 * Answers the HTTP status of a raw upgrade request (101 when allowed, 403 when not).
 */
async function proxiedOriginStatus(base) {
  const u = new URL(base);
  const { token } = await getJson(base, '/demo/token?user=bt-origin-check&name=check&role=student');
  const sock = net.connect(Number(u.port), u.hostname);
  sock.on('error', () => {});
  await once(sock, 'connect');
  sock.write(`GET /ws?token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: 127.0.0.1:1\r\nOrigin: ${u.origin}\r\n` +
    'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  const [chunk] = await Promise.race([once(sock, 'data'), sleep(5000).then(() => [Buffer.from('timeout')])]);
  sock.destroy();
  const m = chunk.toString('latin1').match(/^HTTP\/1\.1 (\d{3})/);
  return m ? Number(m[1]) : 0;
}

async function socketsOpen(base) {
  const text = await (await fetch(base + '/metrics')).text();
  const m = text.match(/^lms_sockets_open(?:\{[^}]*\})?\s+(\S+)\s*$/m);
  if (!m) throw new Error('/metrics has no lms_sockets_open line');
  return Number(m[1]);
}

async function waitUntil(what, fn, timeoutMs, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// ------------------------------------------------------------------ a TCP proxy whose network can be cut

class CutProxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.sockets = new Set();
    this.accepted = 0;
    this.port = 0;
    this.server = null;
  }

  async start() {
    this.server = net.createServer((c) => this._accept(c));
    this.server.listen(this.port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = this.server.address().port;
    return this;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  _accept(client) {
    this.accepted++;
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => {});
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** The network goes away: every connection is reset and new ones are refused. */
  async cut() {
    const server = this.server;
    this.server = null;
    const closed = new Promise((r) => server.close(r));
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
    await closed;
  }

  /**
   * The network goes silent: bytes stop flowing both ways but no FIN or RST is sent (a Wi-Fi drop, a
   * suspended laptop's NAT entry expiring). New connections are refused.
   */
  async freeze() {
    for (const s of this.sockets) {
      s.unpipe();
      s.pause();
    }
    this.frozen = [...this.sockets];
    this.sockets.clear();
    this.server.close(); // stops accepting; its callback would wait for the frozen sockets
    this.server = null;
  }

  /** The network comes back, on the same port. */
  async restore() {
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        return await this.start();
      } catch (err) {
        if (err.code !== 'EADDRINUSE' || Date.now() > deadline) throw err;
        this.server = null;
        await sleep(100);
      }
    }
  }

  async stop() {
    if (this.server) await this.cut();
    for (const s of this.frozen || []) s.resetAndDestroy();
    this.frozen = [];
  }
}

// ------------------------------------------------------------------ an HTTP proxy that stands in the way of WebSockets

/**
 * What a school's or a company's proxy does to the engine's traffic (issue 24): every HTTP request is
 * passed on to the engine, but a WebSocket upgrade is refused (403), and with `buffer` an answer is
 * held until it has ended and then sent whole with a Content-Length (an event stream then never
 * arrives). Its network is cut and restored as the CutProxy's.
 */
class FilterProxy extends CutProxy {
  constructor(targetPort, { buffer = false } = {}) {
    super(targetPort);
    this.buffer = buffer;
    this.upstream = new Set(); // requests to the engine (this.sockets: the browser's connections)
    this.upgradesRefused = 0;
    this.requests = []; // 'METHOD path' of each request passed on (the token hidden)
  }

  async start() {
    this.server = http.createServer((req, res) => this._forward(req, res));
    this.server.on('upgrade', (req, socket) => {
      this.upgradesRefused++;
      socket.on('error', () => {});
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 26\r\nConnection: close\r\n\r\n' +
        'WebSockets are not allowed');
    });
    this.server.on('connection', (c) => {
      this.sockets.add(c);
      c.on('close', () => this.sockets.delete(c));
    });
    this.server.listen(this.port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = this.server.address().port;
    return this;
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  _forward(req, res) {
    this.requests.push(req.method + ' ' + req.url.replace(/(token|key)=[^&]*/g, '$1=…'));
    const up = http.request({ host: '127.0.0.1', port: this.targetPort, method: req.method, path: req.url, headers: req.headers, agent: false },
      (answer) => {
        if (!this.buffer) {
          res.writeHead(answer.statusCode, answer.headers);
          answer.pipe(res);
          return;
        }
        const chunks = [];
        answer.on('data', (c) => chunks.push(c));
        answer.on('end', () => {
          const body = Buffer.concat(chunks);
          const headers = { ...answer.headers, 'content-length': String(body.length) };
          delete headers['transfer-encoding'];
          res.writeHead(answer.statusCode, headers);
          res.end(body);
        });
      });
    this.upstream.add(up);
    up.on('close', () => this.upstream.delete(up));
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy()); // the browser gave the request up: so does the proxy
    req.pipe(up);
  }

  /** The network goes away (see CutProxy), the requests to the engine with it. */
  async cut() {
    for (const u of this.upstream) u.destroy();
    await super.cut();
  }
}

// ------------------------------------------------------------------ the browser side

let browser;

async function newPage(base, consoleTag) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.pageErrors = [];
  page.on('pageerror', (e) => page.pageErrors.push(String(e && e.stack || e)));
  if (process.env.LMS_DEBUG) page.on('console', (m) => say(`  [${consoleTag} console] ${m.text()}`));
  // A real page of the engine: its root (the demo page, which stays on its sign-in card without ?as=).
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.evaluate(installHarness);
  return { context, page };
}

/**
 * Runs in the page. window.__lms.make(...) builds a RealtimeClient from the module the engine serves,
 * with a WebSocket class that records every connection attempt and how it closed.
 */
function installHarness() {
  const clients = {};
  window.__lms = {
    clients,
    async make({ name, url, user, room, heartbeatSeconds, ttlSeconds, refresh }) {
      const { RealtimeClient } = await import('/sdk/lms-realtime.js');
      const rec = { states: [], events: [], resets: [], joins: [], errors: [], sockets: [], tokens: 0, welcomes: [], refreshed: [], disconnects: [], fallbacks: [], own: [] };
      const opened = []; // the WebSocket objects themselves, for a test that sends on one directly
      class RecordingWebSocket extends WebSocket {
        constructor(u, p) {
          super(u, p);
          opened.push(this);
          const s = { url: String(u).replace(/token=[^&]*/, 'token=…'), at: performance.now(), openedAt: null, close: null };
          rec.sockets.push(s);
          this.addEventListener('open', () => { s.openedAt = performance.now(); });
          this.addEventListener('close', (e) => { s.close = { code: e.code, reason: e.reason, at: performance.now() }; });
        }
      }
      const token = async () => {
        rec.tokens++;
        // Short-lived tokens of the platform, minted by the runner (page.exposeFunction), for test 8.
        if (ttlSeconds) return window.__mintToken(user, ttlSeconds);
        const q = new URLSearchParams({ user, name: user, role: 'student' });
        const res = await fetch('/demo/token?' + q, { cache: 'no-store' });
        if (!res.ok) throw new Error('/demo/token answered ' + res.status);
        return (await res.json()).token;
      };
      const opts = { url, token, WebSocket: RecordingWebSocket };
      if (heartbeatSeconds) opts.heartbeatSeconds = heartbeatSeconds;
      if (refresh !== undefined) opts.refresh = refresh;
      const client = new RealtimeClient(opts);
      client.on('welcome', (w) => rec.welcomes.push({ connectionId: w.connectionId, transport: client.transport, at: performance.now() }));
      client.on('fallback', (f) => rec.fallbacks.push({ ...f, at: performance.now() }));
      client.on('refreshed', (r) => rec.refreshed.push({ exp: r.exp, at: performance.now(), wall: Date.now() }));
      client.on('state', (s) => rec.states.push({ s, at: performance.now(), attempts: client.reconnectAttempts }));
      client.on('error', (e) => rec.errors.push({ code: e.code, message: e.message, closeCode: e.closeCode }));
      client.on('disconnected', (d) => rec.disconnects.push({ ...d, at: performance.now() }));
      const r = client.join(room, {
        onEvent: (e) => rec.events.push({ seq: e.seq, epoch: e.epoch, event: e.event, data: e.data, from: e.from, room: e.room, at: performance.now() }),
        onReset: (j) => rec.resets.push({ epoch: j.epoch, seq: j.seq, recovered: j.recovered, at: performance.now() }),
        onJoined: (j) => rec.joins.push({ epoch: j.epoch, seq: j.seq, recovered: j.recovered, missed: (j.missed || []).length, at: performance.now() }),
      });
      clients[name] = { client, room: r, rec, opened };
      const joined = await r.ready;
      return { epoch: joined.epoch, seq: joined.seq, userId: client.userId, heartbeatSeconds: client.heartbeatSeconds };
    },
    /** Publishes from the page into the user's own room (which a student may), joined on first use; answers the ack. */
    async publishOwn(name, mark) {
      const c = clients[name];
      if (!c.own) c.own = c.client.join('user:' + c.client.userId, { onEvent: (e) => c.rec.own.push({ seq: e.seq, mark: e.data && e.data.mark }) });
      await c.own.ready;
      const ack = await c.own.publish('progress', { mark });
      return { type: ack.type, seq: ack.seq };
    },
    snap(name) {
      const c = clients[name];
      return {
        state: c.client.state,
        reconnectAttempts: c.client.reconnectAttempts,
        transport: c.client.transport,
        connectionId: c.client.connectionId,
        heartbeatSeconds: c.client.heartbeatSeconds,
        tokenExp: c.client.tokenExp,
        epoch: c.room.epoch,
        seq: c.room.seq,
        joined: c.room.joined,
        now: performance.now(),
        ...JSON.parse(JSON.stringify(c.rec)),
      };
    },
  };
}

const make = (page, o) => page.evaluate((o) => window.__lms.make(o), o);
const snap = (page, name) => page.evaluate((n) => window.__lms.snap(n), name);

/** Every event exactly once, in seq order, no gaps, one epoch (what onEvent promises). */
function assertInOrderOnce(events, label) {
  for (let i = 1; i < events.length; i++) {
    const a = events[i - 1];
    const b = events[i];
    assert.equal(b.epoch, a.epoch, `${label}: epoch changed between seq ${a.seq} and ${b.seq}`);
    assert.equal(b.seq, a.seq + 1, `${label}: seq ${a.seq} followed by ${b.seq} (gap, duplicate or disorder)`);
  }
}

/** Events the test published (by mark), each seen exactly once, with the seq the backend gave it. */
function assertGotPublished(events, published, label) {
  for (const p of published) {
    const seen = events.filter((e) => e.data && e.data.mark === p.mark);
    assert.equal(seen.length, 1, `${label}: event ${p.mark} (seq ${p.seq}) seen ${seen.length} times`);
    assert.equal(seen[0].seq, p.seq, `${label}: event ${p.mark} has seq ${seen[0].seq}, the backend said ${p.seq}`);
    assert.equal(seen[0].epoch, p.epoch, `${label}: event ${p.mark} has another epoch`);
    assert.equal(seen[0].from, 'backend');
  }
  const order = events.filter((e) => e.data && published.some((p) => p.mark === e.data.mark)).map((e) => e.data.mark);
  assert.deepEqual(order, published.map((p) => p.mark), `${label}: events out of order`);
}

async function publishMarked(base, label, i) {
  const mark = `${label}-${i}-${Math.random().toString(36).slice(2, 8)}`;
  const ack = await publish(base, COURSE, 'announcement', { text: `${label} #${i}`, mark });
  return { mark, seq: ack.seq, epoch: ack.epoch };
}

// ------------------------------------------------------------------ the tests

const tests = [];
const test = (name, timeoutMs, fn, opts = {}) => tests.push({ name, timeoutMs, fn, ...opts });
const report = {}; // figures worth printing at the end

let base; // the engine's base URL
let engine = null; // set in mode (a)
let engineHeartbeat = null;
let proxyProblem = null; // why the proxy tests cannot work against an engine someone else started

test('1. module from the engine; join course:demo-101; backend events arrive in order with seq', 25000, async () => {
  const { context, page } = await newPage(base, 't1');
  try {
    const hasModule = await page.evaluate(async () => typeof (await import('/sdk/lms-realtime.js')).RealtimeClient);
    assert.equal(hasModule, 'function', '/sdk/lms-realtime.js exports RealtimeClient');
    const joined = await make(page, { name: 'c', url: '/ws', user: 'bt-one', room: COURSE });
    assert.equal(joined.userId, 'bt-one');
    assert.equal(typeof joined.epoch, 'string');
    engineHeartbeat = joined.heartbeatSeconds;
    const published = [];
    for (let i = 1; i <= 5; i++) published.push(await publishMarked(base, 't1', i));
    for (let i = 1; i < published.length; i++) assert.equal(published[i].seq, published[i - 1].seq + 1, 'backend seqs are consecutive');
    assert.equal(published[0].seq, joined.seq + 1, 'the first event follows the joined seq');
    await page.waitForFunction((n) => window.__lms.snap('c').events.length >= n, published.length, { timeout: 10000 });
    const s = await snap(page, 'c');
    assert.equal(s.events.length, published.length, 'no extra events');
    assertInOrderOnce(s.events, 't1');
    assertGotPublished(s.events, published, 't1');
    assert.ok(s.events.every((e) => e.room === COURSE && e.event === 'announcement'));
    assert.equal(s.state, 'connected');
    assert.equal(s.reconnectAttempts, 0);
    assert.deepEqual(page.pageErrors, []);
  } finally {
    await context.close();
  }
});

test(`2. network cut of ${OUTAGE_MS / 1000} s through a TCP proxy: reconnect, missed events once and in order`, 70000, async () => {
  if (proxyProblem) throw new Error(proxyProblem);
  const proxy = await new CutProxy(Number(new URL(base).port)).start();
  const { context, page } = await newPage(base, 't2');
  try {
    await make(page, { name: 'c', url: proxy.wsUrl, user: 'bt-cut', room: COURSE });
    const published = [];
    for (let i = 1; i <= 2; i++) published.push(await publishMarked(base, 't2-before', i));
    await page.waitForFunction(() => window.__lms.snap('c').events.length >= 2, null, { timeout: 10000 });

    const beforeCut = await snap(page, 'c');
    assert.equal(beforeCut.state, 'connected');
    const socketsBefore = beforeCut.sockets.length;
    await proxy.cut();
    const cutAt = Date.now();
    // While the network is gone the platform keeps publishing; the engine keeps them in the room's history.
    let i = 0;
    while (Date.now() - cutAt < OUTAGE_MS) {
      published.push(await publishMarked(base, 't2-during', ++i));
      await sleep(Math.min(1500, Math.max(0, OUTAGE_MS - (Date.now() - cutAt))));
    }
    const atRestore = await snap(page, 'c');
    await proxy.restore();
    const restoredAt = Date.now();
    const attemptsInOutage = atRestore.reconnectAttempts - beforeCut.reconnectAttempts;
    report.outageSeconds = OUTAGE_MS / 1000;
    report.attemptsInOutage = attemptsInOutage;
    assert.notEqual(atRestore.state, 'connected', 'the client noticed the cut');
    assert.ok(attemptsInOutage >= 1, 'the client tried to reconnect during the outage');
    assert.equal(atRestore.sockets.length - socketsBefore, attemptsInOutage, 'one WebSocket per attempt');

    await page.waitForFunction(() => {
      const s = window.__lms.snap('c');
      return s.state === 'connected' && s.joined;
    }, null, { timeout: 30000, polling: 100 });
    const reconnectedAfterMs = Date.now() - restoredAt;
    for (let k = 1; k <= 2; k++) published.push(await publishMarked(base, 't2-after', k));
    await page.waitForFunction((n) => window.__lms.snap('c').events.length >= n, published.length, { timeout: 10000 });
    await sleep(300); // a late duplicate would show up here
    const s = await snap(page, 'c');
    report.attemptsUntilBack = s.reconnectAttempts - beforeCut.reconnectAttempts;
    report.reconnectedAfterRestoreMs = reconnectedAfterMs;
    assert.equal(s.events.length, published.length, `every event exactly once (${s.events.length} seen, ${published.length} published)`);
    assertInOrderOnce(s.events, 't2');
    assertGotPublished(s.events, published, 't2');
    assert.deepEqual(s.resets, [], 'history was kept, so no onReset');
    const rejoin = s.joins[s.joins.length - 1];
    assert.equal(rejoin.recovered, true, 'the re-join was answered recovered:true');
    assert.ok(rejoin.missed >= published.filter((p) => p.mark.startsWith('t2-during')).length, 'the missed events came with the re-join');
    assert.ok(proxy.accepted >= 2, 'the new connection went through the proxy');
    say(`   reconnect attempts during the ${OUTAGE_MS / 1000} s outage: ${attemptsInOutage}; ` +
      `attempts until connected again: ${report.attemptsUntilBack}; connected ${(reconnectedAfterMs / 1000).toFixed(1)} s after the network came back; ` +
      `${published.length - 4} events published during the outage, all recovered`);
    assert.deepEqual(page.pageErrors, []);
  } finally {
    await context.close();
    await proxy.stop();
  }
});

test('2b. silent network (no FIN, no RST): the heartbeat notices, reconnects and recovers', 45000, async () => {
  if (proxyProblem) throw new Error(proxyProblem);
  const proxy = await new CutProxy(Number(new URL(base).port)).start();
  const { context, page } = await newPage(base, 't2b');
  try {
    const joined = await make(page, { name: 'c', url: proxy.wsUrl, user: 'bt-silent', room: COURSE });
    const hb = joined.heartbeatSeconds;
    const published = [await publishMarked(base, 't2b-before', 1)];
    await page.waitForFunction(() => window.__lms.snap('c').events.length >= 1, null, { timeout: 10000 });
    const t0 = await snap(page, 'c');
    await proxy.freeze();
    // A ping goes out after half an interval of silence; no pong within an interval: the socket is given up.
    await page.waitForFunction(() => window.__lms.snap('c').state !== 'connected', null, { timeout: (2 * hb + 2) * 1000, polling: 50 });
    const t1 = await snap(page, 'c');
    const detectedMs = t1.now - t0.now;
    if (process.env.LMS_DEBUG) say(JSON.stringify({ t0: t0.now, states: t1.states, errors: t1.errors, sockets: t1.sockets }, null, 1));
    assert.ok(detectedMs <= (1.5 * hb + 1) * 1000, `dead connection noticed within 1.5 heartbeats (took ${Math.round(detectedMs)} ms)`);
    published.push(await publishMarked(base, 't2b-during', 1));
    await sleep(1000);
    await proxy.restore();
    await page.waitForFunction(() => {
      const s = window.__lms.snap('c');
      return s.state === 'connected' && s.joined;
    }, null, { timeout: 30000, polling: 100 });
    published.push(await publishMarked(base, 't2b-after', 1));
    await page.waitForFunction((n) => window.__lms.snap('c').events.length >= n, published.length, { timeout: 10000 });
    await sleep(300);
    const s = await snap(page, 'c');
    assert.equal(s.events.length, published.length, 'every event exactly once');
    assertInOrderOnce(s.events, 't2b');
    assertGotPublished(s.events, published, 't2b');
    assert.deepEqual(s.resets, []);
    say(`   silent drop noticed by the client after ${(detectedMs / 1000).toFixed(1)} s (heartbeat ${hb} s)`);
  } finally {
    await context.close();
    await proxy.stop();
  }
});

test(`3. idle page stays connected across heartbeats (${IDLE_MS / 1000} s)`, 45000, async () => {
  const { context, page } = await newPage(base, 't3');
  try {
    const joined = await make(page, { name: 'c', url: '/ws', user: 'bt-idle', room: COURSE });
    const hb = joined.heartbeatSeconds;
    assert.ok(hb > 0, 'welcome gave a heartbeat');
    // The engine drops a socket silent for 2 intervals: stay idle for several of them (at least 12 s).
    const idleMs = Math.min(60000, Math.max(IDLE_MS, hb * 2500));
    if (hb * 2 * 1000 >= idleMs) say(`   note: the engine's heartbeat is ${hb} s; start it with LMS_HEARTBEAT_SECONDS=2 for a meaningful idle test`);
    const before = await snap(page, 'c');
    await sleep(idleMs);
    const after = await snap(page, 'c');
    assert.equal(after.state, 'connected');
    assert.equal(after.reconnectAttempts, 0, 'no reconnect while idle');
    assert.equal(after.connectionId, before.connectionId, 'the same connection');
    assert.equal(after.sockets.length, 1, 'one WebSocket in all');
    assert.equal(after.sockets[0].close, null, 'the socket never closed');
    assert.deepEqual(after.states.map((x) => x.s), ['connecting', 'connected'], 'no state change while idle');
    assert.deepEqual(after.errors, []);
    // and it still works
    const p = await publishMarked(base, 't3', 1);
    await page.waitForFunction(() => window.__lms.snap('c').events.length >= 1, null, { timeout: 5000 });
    assertGotPublished((await snap(page, 'c')).events, [p], 't3');
    say(`   idle ${idleMs / 1000} s with a ${hb} s heartbeat (${(idleMs / 1000 / hb).toFixed(0)} intervals): still connected, 0 reconnects`);
  } finally {
    await context.close();
  }
});

test('5. close() stops reconnecting; the engine sees the socket go', 45000, async () => {
  if (proxyProblem) throw new Error(proxyProblem);
  const proxy = await new CutProxy(Number(new URL(base).port)).start();
  const { context, page } = await newPage(base, 't5');
  try {
    // (a) close while connected
    await make(page, { name: 'a', url: proxy.wsUrl, user: 'bt-close-a', room: COURSE });
    // (b) close during an outage, while a reconnect is pending
    await make(page, { name: 'b', url: proxy.wsUrl, user: 'bt-close-b', room: COURSE });
    await waitUntil('the engine counting 2 sockets', async () => (await socketsOpen(base)) >= 2, 5000);

    await page.evaluate(() => window.__lms.clients.a.client.close());
    const a0 = await snap(page, 'a');
    assert.equal(a0.state, 'closed');
    assert.equal(a0.sockets[a0.sockets.length - 1].close?.code ?? 1000, 1000);

    await proxy.cut();
    await page.waitForFunction(() => window.__lms.snap('b').reconnectAttempts >= 1, null, { timeout: 10000 });
    await page.evaluate(() => window.__lms.clients.b.client.close());
    const b0 = await snap(page, 'b');
    assert.equal(b0.state, 'closed');
    const acceptedAtClose = proxy.accepted;

    await sleep(1500);
    await proxy.restore();
    await sleep(6000); // longer than any backoff window that could have been pending at close
    const a1 = await snap(page, 'a');
    const b1 = await snap(page, 'b');
    for (const [x0, x1, n] of [[a0, a1, 'a'], [b0, b1, 'b']]) {
      assert.equal(x1.state, 'closed', `${n}: state stays closed`);
      assert.equal(x1.reconnectAttempts, x0.reconnectAttempts, `${n}: no reconnect attempt after close()`);
      assert.equal(x1.sockets.length, x0.sockets.length, `${n}: no WebSocket opened after close()`);
      assert.equal(x1.tokens, x0.tokens, `${n}: the token function was not called after close()`);
      assert.deepEqual(x1.states.slice(x0.states.length), [], `${n}: no state change after closed`);
    }
    assert.equal(proxy.accepted, acceptedAtClose, 'the proxy saw no connection after close()');
    await waitUntil('lms_sockets_open back to 0', async () => (await socketsOpen(base)) === 0, 10000, 250);
  } finally {
    await context.close();
    await proxy.stop();
  }
});

test('6. demo page: two tabs of one student stay in sync (progress, hand, chat, roster "2 tabs"); a tab opened later ' +
  'and a reload show what came before; students get no announcement form; no emoji; screenshots', 90000, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const instructorContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  const open = async (ctx, query) => {
    const page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(String(e && e.stack || e)));
    await page.goto(`${base}/?${query}`, { waitUntil: 'load' });
    await page.waitForSelector('#state[data-state="connected"]', { timeout: 15000 });
    return page;
  };
  const value = async (page) => Number(await page.getAttribute('#progress-bar', 'aria-valuenow'));
  const waitValue = (page, v) => page.waitForFunction((v) =>
    document.getElementById('progress-bar').getAttribute('aria-valuenow') === String(v), v, { timeout: 10000 });
  const logged = (page, text) => page.waitForFunction((t) =>
    [...document.querySelectorAll('#log li')].some((li) => li.textContent.includes(t)), text, { timeout: 10000 });
  const chatLines = (page) => page.$$eval('#chat-log [data-testid="chat-message"]', (l) => l.map((li) => li.querySelector('.text').textContent));
  const feedTexts = (page) => page.$$eval('#feed [data-testid="feed-item"]', (l) => l.map((li) => li.textContent));
  /** What the page draws as text that would need an emoji font (a box where there is none). */
  const emoji = (page) => page.evaluate(() => [...document.body.innerText.matchAll(/\p{Extended_Pictographic}/gu)].map((m) => m[0]));
  try {
    // The instructor is in the class first: Ada's second tab then sends no presence_diff (she is
    // already present), and the roster must still come to show her two tabs.
    const teacher = await open(instructorContext, 'as=turing');
    assert.equal(await teacher.isVisible('#roster-panel'), true, 'an instructor sees the roster');
    assert.equal(await teacher.isVisible('#progress-panel'), false, 'an instructor has no lesson progress');
    assert.equal(await teacher.isVisible('#announce-form'), true, 'an instructor sees the announcement form');
    const tab1 = await open(context, 'as=ada');
    await teacher.waitForSelector('#roster [data-user-id="ada"]', { timeout: 10000 });
    await sleep(1000); // past the roster's settling read after that diff: only the periodic read can count the next tab
    const tab2 = await open(context, new URLSearchParams({ user: 'ada', name: 'Ada', role: 'student' }).toString());
    await logged(tab1, 'joined user:ada');
    await logged(tab2, 'joined user:ada');
    assert.equal(await tab1.isVisible('#progress-panel'), true, 'a student sees the progress panel');
    assert.equal(await tab1.isVisible('#announce-form'), false, 'a student does not see the announcement form');
    assert.equal(await tab1.isVisible('#announce-by-instructors'), true, 'a student is told who posts announcements');
    const twoTabsAt = Date.now();
    await teacher.waitForFunction(() => /2 tabs/.test(document.querySelector('#roster [data-user-id="ada"]')?.textContent || ''), null, { timeout: 10000 });
    say(`   roster: "2 tabs" ${((Date.now() - twoTabsAt) / 1000).toFixed(1)} s after the second tab connected`);
    assert.equal(await teacher.$$eval('#roster [data-user-id="ada"]', (l) => l.length), 1, 'Ada is listed once');

    if ((await value(tab1)) !== 0) { // a former run left the lesson done: start over, in both tabs
      await tab1.click('#progress-reset');
      await waitValue(tab1, 0);
      await waitValue(tab2, 0);
    }
    await tab1.click('#progress-step');
    await waitValue(tab1, 20);
    await waitValue(tab2, 20);
    await tab2.click('#progress-step');
    await waitValue(tab2, 40);
    await waitValue(tab1, 40);

    // The instructor announces (the backend API, as the platform); every page says who posted it.
    const announcement = 'Quiz 3 opens at 10:00, good luck!';
    await teacher.fill('#announce-input', announcement);
    await teacher.click('#announce-submit');
    for (const p of [tab1, tab2, teacher]) await p.waitForSelector('#feed [data-testid="feed-item"]', { timeout: 10000 });
    const posted = (await feedTexts(tab2)).find((t) => t.includes(announcement));
    assert.ok(posted, 'the announcement is in the feed');
    assert.match(posted, /posted by Prof\. Turing/, 'the announcement says who posted it');

    // Chat from a student and the instructor; a hand raised in tab 2 shows in tab 1 and on the roster.
    await tab1.fill('#chat-input', 'Hello everyone!');
    await tab1.click('#chat-send');
    await teacher.waitForSelector('#chat-log [data-testid="chat-message"]', { timeout: 10000 });
    await teacher.fill('#chat-input', 'Welcome, Ada. Questions about step 3?');
    await teacher.click('#chat-send');
    for (const p of [tab1, tab2]) await p.waitForFunction(() => document.querySelectorAll('#chat-log [data-testid="chat-message"]').length >= 2, null, { timeout: 10000 });
    await tab2.click('#hand-button');
    await tab2.waitForSelector('#hand-button[aria-pressed="true"]', { timeout: 10000 });
    await tab1.waitForSelector('#hand-button[aria-pressed="true"]', { timeout: 10000 }); // the other tab follows
    await teacher.waitForSelector('#roster [data-user-id="ada"][data-hand="up"]', { timeout: 10000 });
    assert.equal(await teacher.textContent('#hands-count'), '1');
    assert.equal(await tab1.$$eval('#hand-button svg', (l) => l.length), 1, 'the hand button draws its hand as inline SVG');
    assert.equal(await teacher.$$eval('#roster [data-user-id="ada"] .hand-flag svg', (l) => l.length), 1, 'so does the roster');

    // A third tab of Ada, opened now: what happened before it came is there too.
    const tab3 = await open(context, 'as=ada');
    await tab3.waitForSelector('#hand-button[aria-pressed="true"]', { timeout: 10000 });
    await waitValue(tab3, 40);
    await tab3.waitForFunction(() => document.querySelectorAll('#chat-log [data-testid="chat-message"]').length >= 2, null, { timeout: 10000 });
    assert.deepEqual(await chatLines(tab3), await chatLines(tab1), 'a tab opened later shows the same chat, in the same order');
    await tab3.waitForSelector('#feed [data-testid="feed-item"]', { timeout: 10000 });
    // The newest announcements (the page reads the last 20; other tests of the run publish to this course too).
    const feed3 = await feedTexts(tab3);
    assert.ok(feed3.some((t) => t.includes(announcement)), 'a tab opened later shows the announcement');
    assert.deepEqual(feed3, (await feedTexts(tab1)).slice(0, feed3.length), 'and the newest announcements as the first tab, in the same order');
    await tab3.close();

    // A reload: the announcements, the chat and the hand are back (not "No announcements yet").
    const chatBefore = await chatLines(tab1);
    await tab1.reload({ waitUntil: 'load' });
    await tab1.waitForSelector('#state[data-state="connected"]', { timeout: 15000 });
    await tab1.waitForSelector('#feed [data-testid="feed-item"]', { timeout: 10000 });
    assert.equal(await tab1.isVisible('#feed [data-testid="feed-empty"]'), false, 'no "No announcements yet" after a reload');
    assert.ok((await feedTexts(tab1)).some((t) => t.includes(announcement)), 'the announcement is there after a reload');
    await tab1.waitForFunction((n) => document.querySelectorAll('#chat-log [data-testid="chat-message"]').length >= n, chatBefore.length, { timeout: 10000 });
    assert.deepEqual(await chatLines(tab1), chatBefore, 'the chat is there after a reload, each line once');
    await tab1.waitForSelector('#hand-button[aria-pressed="true"]', { timeout: 10000 });
    await waitValue(tab1, 40);
    await teacher.reload({ waitUntil: 'load' });
    await teacher.waitForSelector('#roster [data-user-id="ada"][data-hand="up"]', { timeout: 10000 });

    for (const p of [tab1, tab2, teacher]) assert.deepEqual(await emoji(p), [], 'no character that needs an emoji font');

    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
    await tab1.bringToFront();
    await sleep(300);
    await tab1.screenshot({ path: path.join(SCREENSHOT_DIR, 'demo-student.png'), fullPage: true });
    await teacher.screenshot({ path: path.join(SCREENSHOT_DIR, 'demo-instructor.png'), fullPage: true });
    say(`   screenshots: ${path.join(SCREENSHOT_DIR, 'demo-student.png')}, ${path.join(SCREENSHOT_DIR, 'demo-instructor.png')}`);

    assert.deepEqual(errors, [], 'no uncaught error in the demo pages');
  } finally {
    await context.close();
    await instructorContext.close();
  }
});

test('6b. demo page with ?ttl=10: 10-second tokens, refreshed on the open socket (one welcome)', 30000, async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e && e.stack || e)));
    await page.goto(`${base}/?as=linus&ttl=10`, { waitUntil: 'load' });
    await page.waitForSelector('#state[data-state="connected"]', { timeout: 15000 });
    assert.match(page.url(), /ttl=10/, 'the page keeps ttl in its address');
    const exp = await page.evaluate(async () => {
      const t = await (await fetch('/demo/token?user=linus&ttl=10')).json();
      return JSON.parse(atob(t.token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp;
    });
    assert.ok(exp - Date.now() / 1000 <= 11, 'a 10-second token');
    await page.waitForFunction(() => [...document.querySelectorAll('#log li')].some((li) => li.textContent.includes('token refreshed')),
      null, { timeout: 15000 });
    const welcomes = await page.$$eval('#log li', (l) => l.filter((li) => li.textContent.includes('welcome:')).length);
    assert.equal(welcomes, 1, 'the socket stayed open: one welcome');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('7. page reload: the course room recovers from localStorage (recovered:true, the events published while the page was away)', 30000, async () => {
  const { context, page } = await newPage(base, 't7');
  try {
    const user = 'bt-reload';
    await make(page, { name: 'c', url: '/ws', user, room: COURSE });
    const before = [await publishMarked(base, 't7-before', 1), await publishMarked(base, 't7-before', 2)];
    await page.waitForFunction(() => window.__lms.snap('c').events.length >= 2, null, { timeout: 10000 });
    // At once, well within the client's write interval (1 s): the position must be written on pagehide.
    await page.reload({ waitUntil: 'load' });
    const away = [await publishMarked(base, 't7-away', 1), await publishMarked(base, 't7-away', 2)];
    const stored = await page.evaluate(([u, room]) => {
      const key = Object.keys(localStorage).find((k) => k.startsWith('lms-realtime:') && k.endsWith(':' + u + ':' + room));
      return key ? { key, value: JSON.parse(localStorage.getItem(key)) } : null;
    }, [user, COURSE]);
    assert.ok(stored, 'the reloaded page finds the position in localStorage');
    assert.deepEqual(stored.value, { epoch: before[1].epoch, seq: before[1].seq }, `stored under ${stored.key}: the last event seen before the reload`);

    await page.evaluate(installHarness);
    await make(page, { name: 'c', url: '/ws', user, room: COURSE });
    await page.waitForFunction((n) => window.__lms.snap('c').events.length >= n, away.length, { timeout: 10000 });
    const after = await publishMarked(base, 't7-after', 1);
    await page.waitForFunction((n) => window.__lms.snap('c').events.length >= n, away.length + 1, { timeout: 10000 });
    await sleep(300); // a late duplicate would show up here
    const s = await snap(page, 'c');
    const first = s.joins[0];
    assert.equal(first.recovered, true, "the new page's first join (with since from localStorage) was answered recovered:true");
    assert.equal(first.missed, away.length, 'missed: the events published while the page was away, and only those');
    assert.deepEqual(s.resets, [], 'nothing lost, so no onReset');
    assert.equal(s.events.length, away.length + 1, `every event once, none from before the reload (${s.events.length} seen)`);
    assertInOrderOnce(s.events, 't7');
    assertGotPublished(s.events, [...away, after], 't7');
    assert.deepEqual(page.pageErrors, []);
    say(`   reload: stored seq ${stored.value.seq}; the first join recovered ${first.missed} missed event(s)`);
  } finally {
    await context.close();
  }
});

test(`8. in-band token refresh: ${REFRESH_TTL_SECONDS} s tokens, one socket for ${REFRESH_RUN_MS / 1000} s (no new welcome), ` +
  'events throughout; with refresh:false the engine closes 4001 and the client reconnects', 40000, async () => {
  const { context, page } = await newPage(base, 't8');
  // The page's token function asks the runner, which signs as the platform would.
  await page.exposeFunction('__mintToken', (user, ttl) => mintAccessToken(user, ttl));
  try {
    const ttlSeconds = REFRESH_TTL_SECONDS;
    await make(page, { name: 'r', url: '/ws', user: 'bt-refresh', room: COURSE, ttlSeconds });
    // The control: the same short tokens, refresh turned off. Its socket must end at exp + skew.
    await make(page, { name: 'off', url: '/ws', user: 'bt-refresh-off', room: COURSE, ttlSeconds, refresh: false });
    const t0 = await snap(page, 'r');
    const firstExp = minted.get('bt-refresh')[0].exp;
    assert.equal(t0.tokenExp, firstExp, 'the client read exp from the token it connected with');
    const published = [];
    const until = Date.now() + REFRESH_RUN_MS;
    let i = 0;
    while (Date.now() < until) {
      published.push(await publishMarked(base, 't8', ++i));
      await sleep(1000);
    }
    for (const name of ['r', 'off']) {
      await page.waitForFunction(([c, n]) => window.__lms.snap(c).events.length >= n, [name, published.length], { timeout: 10000 });
    }
    await sleep(300); // a late duplicate would show up here
    const s = await snap(page, 'r');
    const off = await snap(page, 'off');
    const tokens = minted.get('bt-refresh');
    const lastExp = s.refreshed.length ? s.refreshed[s.refreshed.length - 1].exp : null;
    assert.ok(Date.now() > firstExp * 1000 + (CLOCK_SKEW_SECONDS + 2) * 1000, 'the test ran well past the first token\'s exp + skew');
    // One socket, one welcome, from the start to the end: the token was renewed on it, again and again.
    assert.equal(s.sockets.length, 1, `one WebSocket in all (${s.sockets.length})`);
    assert.equal(s.sockets[0].close, null, 'the socket never closed');
    assert.equal(s.welcomes.length, 1, 'no second welcome');
    assert.equal(s.connectionId, t0.connectionId, 'the same connection');
    assert.equal(s.reconnectAttempts, 0);
    assert.deepEqual(s.states.map((x) => x.s), ['connecting', 'connected'], 'no state change');
    assert.deepEqual(s.errors, []);
    const minRefreshes = Math.floor(REFRESH_RUN_MS / 1000 / ttlSeconds);
    assert.ok(s.refreshed.length >= minRefreshes, `refreshed ${s.refreshed.length} times (at least ${minRefreshes})`);
    assert.equal(s.tokens, s.refreshed.length + 1, 'one token for the connection, one per refresh');
    // Each refreshed answered the exp of a token minted for it, and came before the exp in force then.
    for (let k = 0; k < s.refreshed.length; k++) {
      const r = s.refreshed[k];
      assert.equal(r.exp, tokens[k + 1].exp, `refreshed #${k + 1} answered the new token's exp`);
      assert.ok(r.wall < tokens[k].exp * 1000, `refresh #${k + 1} came ${tokens[k].exp * 1000 - r.wall} ms before the exp it replaced`);
    }
    assert.equal(s.tokenExp, lastExp);
    assert.equal(s.events.length, published.length, `every event exactly once (${s.events.length} seen, ${published.length} published)`);
    assertInOrderOnce(s.events, 't8');
    assertGotPublished(s.events, published, 't8');
    // The control shows the engine enforces the expiry: 4001 soon after exp + skew, then a reconnect.
    assert.deepEqual(off.refreshed, [], 'refresh:false sent no refresh');
    const closed = off.sockets[0].close;
    assert.ok(closed, 'the control socket was closed');
    assert.equal(closed.code, 4001, `the control socket was closed with 4001 (got ${closed.code} ${closed.reason})`);
    assert.ok(off.sockets.length >= 2 && off.reconnectAttempts >= 1, 'and the control reconnected');
    assertGotPublished(off.events, published, 't8 control'); // recovered across its reconnects
    assert.deepEqual(page.pageErrors, []);
    say(`   ${s.refreshed.length} refreshes of ${ttlSeconds} s tokens on one socket over ${REFRESH_RUN_MS / 1000} s ` +
      `(each ${s.refreshed.map((r, k) => ((tokens[k].exp * 1000 - r.wall) / 1000).toFixed(1)).join(', ')} s before the exp in force), ` +
      `${published.length} events once each; the control (refresh:false): ${off.sockets.length} sockets, closed with 4001`);
  } finally {
    await context.close();
  }
}, { needsOwnEngine: 'it mints tokens with the secret of an engine it started (LMS_JWT_SECRET)' });

test('9. a 4029 (rate limit) after welcome reaches the app: the disconnected event has the code, the reason and its retryAfterMs', 25000, async () => {
  const { context, page } = await newPage(base, 't9');
  try {
    await make(page, { name: 'c', url: '/ws', user: 'bt-rate', room: COURSE });
    // Every text frame counts against the rate (20 a second, burst 40); refused frames in a row past the
    // strikes (40) close the socket with 4029 and {"retryAfterMs": N} (docs/protocol.md §7). A flood in one
    // task, straight on the socket: far more than burst plus strikes, so that no refill ends the streak.
    await page.evaluate(() => {
      const ws = window.__lms.clients.c.opened.at(-1);
      for (let i = 0; i < 1000; i++) ws.send('{"type":"ping"}');
    });
    await page.waitForFunction(() => window.__lms.snap('c').disconnects.length >= 1, null, { timeout: 10000 });
    const s = await snap(page, 'c');
    const close = s.sockets[0].close;
    const d = s.disconnects[0];
    assert.equal(close.code, 4029, `the engine closed the socket with 4029 (got ${close.code} ${close.reason})`);
    const advice = JSON.parse(close.reason).retryAfterMs;
    assert.ok(Number.isFinite(advice) && advice > 0, `close reason is {"retryAfterMs": N}: ${close.reason}`);
    assert.deepEqual({ code: d.code, reason: d.reason, retryAfterMs: d.retryAfterMs, welcomed: d.welcomed },
      { code: 4029, reason: close.reason, retryAfterMs: advice, welcomed: true }, 'what the app was told');
    assert.ok(d.reconnectInMs >= advice - 50, `the next attempt waits the advice (${advice} ms): in ${d.reconnectInMs} ms`);
    assert.deepEqual(page.pageErrors, []);
    say(`   4029 shown to the app: ${d.message}, next attempt in ${d.reconnectInMs} ms`);
  } finally {
    await context.close();
  }
});

/**
 * Issue 24: the client behind a FilterProxy finds the fallback by itself (`expect`: 'sse' when the
 * upgrade is refused, 'long-poll' when the stream is buffered too), and on it receives the backend's
 * events, publishes (acked, and echoed to itself), and recovers across a cut of the network: the
 * events published meanwhile come once and in order with the re-join.
 */
async function fallbackScenario(label, { buffer, expect }) {
  if (proxyProblem) throw new Error(proxyProblem);
  const proxy = await new FilterProxy(Number(new URL(base).port), { buffer }).start();
  const { context, page } = await newPage(base, label);
  try {
    const t0 = Date.now();
    await make(page, { name: 'c', url: proxy.wsUrl, user: 'bt-' + label, room: COURSE });
    const connectedMs = Date.now() - t0;
    const s0 = await snap(page, 'c');
    assert.equal(s0.transport, expect, `the client carries on over ${expect}`);
    assert.equal(s0.state, 'connected');
    assert.ok(proxy.upgradesRefused >= 1, 'the proxy refused the upgrade');
    assert.deepEqual(s0.fallbacks.map((f) => f.to), expect === 'sse' ? ['sse'] : ['sse', 'long-poll'], 'the fallbacks taken');
    assert.equal(s0.welcomes.at(-1).transport, expect);

    const published = [await publishMarked(base, label + '-before', 1), await publishMarked(base, label + '-before', 2)];
    await page.waitForFunction((n) => window.__lms.snap('c').events.length >= n, published.length, { timeout: 10000 });
    const mark = label + '-own-' + Math.random().toString(36).slice(2, 8);
    const ack = await page.evaluate(([n, m]) => window.__lms.publishOwn(n, m), ['c', mark]);
    assert.equal(ack.type, 'ack', 'a publish from the page is acked');
    await page.waitForFunction((m) => window.__lms.snap('c').own.some((e) => e.mark === m), mark, { timeout: 10000 });

    const before = await snap(page, 'c');
    await proxy.cut();
    await page.waitForFunction(() => window.__lms.snap('c').state !== 'connected', null, { timeout: 15000, polling: 50 });
    for (let i = 1; i <= 3; i++) published.push(await publishMarked(base, label + '-during', i));
    await sleep(1500);
    await proxy.restore();
    const restoredAt = Date.now();
    await page.waitForFunction((n) => {
      const s = window.__lms.snap('c');
      return s.state === 'connected' && s.joined && s.joins.length > n;
    }, before.joins.length, { timeout: 30000, polling: 100 });
    const backMs = Date.now() - restoredAt;
    published.push(await publishMarked(base, label + '-after', 1));
    await page.waitForFunction((n) => window.__lms.snap('c').events.length >= n, published.length, { timeout: 10000 });
    await sleep(300); // a late duplicate would show up here
    const s = await snap(page, 'c');
    assert.equal(s.transport, expect, `back on ${expect}`);
    assert.equal(s.events.length, published.length, `every event exactly once (${s.events.length} seen, ${published.length} published)`);
    assertInOrderOnce(s.events, label);
    assertGotPublished(s.events, published, label);
    assert.deepEqual(s.resets, [], 'history was kept, so no onReset');
    const rejoin = s.joins.at(-1);
    assert.equal(rejoin.recovered, true, 'the re-join was answered recovered:true');
    assert.ok(rejoin.missed >= 3, `the events of the cut came with the re-join (${rejoin.missed})`);
    const again = await page.evaluate(([n, m]) => window.__lms.publishOwn(n, m), ['c', mark + '-again']);
    assert.equal(again.type, 'ack', 'publishing works after the reconnect');
    assert.deepEqual(page.pageErrors, []);
    say(`   ${expect}: connected in ${(connectedMs / 1000).toFixed(1)} s (fallbacks: ${s0.fallbacks.map((f) => f.from + '→' + f.to + ' (' + f.message + ')').join(', ')}); ` +
      `back ${(backMs / 1000).toFixed(1)} s after the cut ended, ${rejoin.missed} missed event(s) recovered; ` +
      `${proxy.requests.length} HTTP requests through the proxy, ${proxy.upgradesRefused} upgrade(s) refused`);
    if (process.env.LMS_DEBUG) say(proxy.requests.slice(0, 30).map((r) => '     ' + r).join('\n'));
  } finally {
    await context.close();
    await proxy.stop();
  }
}

test('10. a proxy refuses the WebSocket upgrade: the client falls back to /sse by itself; receives, publishes, ' +
  'recovers across a cut', 60000, () => fallbackScenario('t10', { buffer: false, expect: 'sse' }));

test('11. a proxy refuses the upgrade and buffers streamed answers: the client long-polls by itself; receives, ' +
  'publishes, recovers across a cut', 70000, () => fallbackScenario('t11', { buffer: true, expect: 'long-poll' }));

test('12. demo page through a proxy that refuses upgrades: the class works over /sse (progress in two tabs, chat ' +
  'to the instructor, the roster)', 60000, async () => {
  if (proxyProblem) throw new Error(proxyProblem);
  const proxy = await new FilterProxy(Number(new URL(base).port)).start();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const instructorContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  // The pages come through the proxy too: the demo page's socket goes to its own host, the proxy.
  const open = async (ctx, query) => {
    const page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(String(e && e.stack || e)));
    await page.goto(`${proxy.origin}/?${query}`, { waitUntil: 'load' });
    await page.waitForSelector('#state[data-state="connected"]', { timeout: 20000 });
    return page;
  };
  const logged = (page, text) => page.waitForFunction((t) =>
    [...document.querySelectorAll('#log li')].some((li) => li.textContent.includes(t)), text, { timeout: 10000 });
  const waitValue = (page, v) => page.waitForFunction((v) =>
    document.getElementById('progress-bar').getAttribute('aria-valuenow') === String(v), v, { timeout: 10000 });
  try {
    const teacher = await open(instructorContext, 'as=turing');
    const student = new URLSearchParams({ user: 'hopper', name: 'Hopper', role: 'student' }).toString();
    const tab1 = await open(context, student);
    const tab2 = await open(context, student);
    for (const p of [teacher, tab1, tab2]) await logged(p, 'over sse');
    await logged(tab1, 'joined user:hopper');
    await logged(tab2, 'joined user:hopper');
    await teacher.waitForSelector('#roster [data-user-id="hopper"]', { timeout: 10000 });
    const v = Number(await tab1.getAttribute('#progress-bar', 'aria-valuenow'));
    const step = v >= 100 ? '#progress-reset' : '#progress-step';
    const want = v >= 100 ? 0 : Math.min(100, v + 20);
    await tab1.click(step);
    await waitValue(tab1, want);
    await waitValue(tab2, want); // published over a POST, to the other tab over its stream
    const line = 'through the proxy ' + Math.random().toString(36).slice(2, 8);
    await tab2.fill('#chat-input', line);
    await tab2.click('#chat-send');
    await teacher.waitForFunction((t) => [...document.querySelectorAll('#chat-log [data-testid="chat-message"]')]
      .some((li) => li.textContent.includes(t)), line, { timeout: 10000 });
    assert.ok(proxy.upgradesRefused >= 3, `every page tried the upgrade first (${proxy.upgradesRefused} refused)`);
    assert.deepEqual(errors, [], 'no uncaught error in the demo pages');
  } finally {
    await context.close();
    await instructorContext.close();
    await proxy.stop();
  }
});

test('4. node restart: a durable course room keeps its history (recovered:true, nothing lost, none twice); ' +
  'on an empty data dir it is lost (recovered:false, onReset)', 120000, async () => {
  if (proxyProblem) throw new Error(proxyProblem);
  const proxy = await new CutProxy(Number(new URL(base).port)).start();
  // c goes straight to the engine (it sees the 1012); p through the proxy, cut before the restart so
  // that it misses events published before it. p has a page of its own, for the `online` event below.
  const { context, page } = await newPage(base, 't4');
  const { context: pContext, page: pPage } = await newPage(base, 't4p');
  // The demo page goes through the restarts too: it must come back by itself (new demo secret, so new tokens).
  const demo = await context.newPage();
  const demoErrors = [];
  demo.on('pageerror', (e) => demoErrors.push(String(e && e.stack || e)));
  const demoStep = async () => {
    const v = Number(await demo.getAttribute('#progress-bar', 'aria-valuenow'));
    await demo.click(v >= 100 ? '#progress-reset' : '#progress-step');
    const want = v >= 100 ? 0 : Math.min(100, v + 20);
    await demo.waitForFunction((w) => document.getElementById('progress-bar').getAttribute('aria-valuenow') === String(w), want, { timeout: 10000 });
  };
  const resetNotices = () => demo.$$eval('#feed [data-testid="reset-notice"]', (l) => l.length);
  /** SIGTERM: exit 0, and c's socket closed with 1012 and {"retryAfterMs": N}; answers that close. */
  const stopEngine = async () => {
    const n = (await snap(page, 'c')).sockets.length;
    const exit = await engine.stop();
    assert.equal(exit, 0, 'a node stopped with SIGTERM exits 0 (§7)');
    await page.waitForFunction((i) => window.__lms.snap('c').sockets[i].close !== null, n - 1, { timeout: 5000 });
    const close = (await snap(page, 'c')).sockets[n - 1].close;
    assert.equal(close.code, 1012, `the engine closed the socket with 1012 (got ${close.code} ${close.reason})`);
    const advice = JSON.parse(close.reason).retryAfterMs;
    assert.ok(Number.isFinite(advice) && advice > 0, `close reason is {"retryAfterMs": N}: ${close.reason}`);
    return { ...close, advice, socketIndex: n - 1 };
  };
  const backAgain = (pg, name, joins) => pg.waitForFunction(([n, j]) => {
    const s = window.__lms.snap(n);
    return s.state === 'connected' && s.joined && s.joins.length >= j;
  }, [name, joins], { timeout: 45000, polling: 100 });
  try {
    await demo.goto(`${base}/?as=grace`, { waitUntil: 'load' });
    await demo.waitForSelector('#state[data-state="connected"]', { timeout: 15000 });
    await demo.waitForFunction(() => document.getElementById('log').textContent.includes('joined user:grace'), null, { timeout: 10000 });
    await make(page, { name: 'c', url: '/ws', user: 'bt-restart', room: COURSE });
    await make(pPage, { name: 'p', url: proxy.wsUrl, user: 'bt-restart-p', room: COURSE });
    const before = [await publishMarked(base, 't4-before', 1), await publishMarked(base, 't4-before', 2)];
    await page.waitForFunction(() => window.__lms.snap('c').events.length >= 2, null, { timeout: 10000 });
    await pPage.waitForFunction(() => window.__lms.snap('p').events.length >= 2, null, { timeout: 10000 });
    const oldEpoch = (await snap(page, 'c')).epoch;
    await proxy.cut(); // p is away from now on
    const unseen = [await publishMarked(base, 't4-unseen', 1), await publishMarked(base, 't4-unseen', 2)];
    await page.waitForFunction(() => window.__lms.snap('c').events.length >= 4, null, { timeout: 10000 });

    // (a) A plain restart, same LMS_DATA_DIR: the course room is durable, nothing is lost.
    const closeA = await stopEngine();
    await engine.start();
    await proxy.restore();
    // The network is back for p: its page says so (the client cuts its backoff short, never an engine's retryAfterMs).
    await pPage.evaluate(() => window.dispatchEvent(new Event('online')));
    await backAgain(page, 'c', 2);
    await backAgain(pPage, 'p', 2);
    const c1 = await snap(page, 'c');
    const retry = c1.sockets[closeA.socketIndex + 1];
    assert.ok(retry.at - closeA.at >= closeA.advice - 50,
      `the client waited the engine's retryAfterMs (${closeA.advice} ms) before reconnecting (waited ${Math.round(retry.at - closeA.at)} ms)`);
    assert.ok(c1.tokens >= 2, 'a fresh token was fetched for the reconnect');
    assert.equal(c1.joins[c1.joins.length - 1].recovered, true, 'c: the re-join after a plain restart answered recovered:true');
    assert.equal(c1.epoch, oldEpoch, 'the epoch survived the restart');
    const p1 = await snap(pPage, 'p');
    const pRejoin = p1.joins[p1.joins.length - 1];
    assert.equal(pRejoin.recovered, true, 'p: the re-join after a plain restart answered recovered:true');
    assert.ok(pRejoin.missed >= unseen.length, `p: the events published before the restart came in missed (${pRejoin.missed})`);
    const afterA = await publishMarked(base, 't4-after-restart', 1);
    assert.equal(afterA.epoch, oldEpoch, 'events continue in the same epoch');
    assert.equal(afterA.seq, unseen[1].seq + 1, 'and with the next seq');
    const expectA = [...before, ...unseen, afterA];
    await page.waitForFunction((n) => window.__lms.snap('c').events.length >= n, expectA.length, { timeout: 10000 });
    await pPage.waitForFunction((n) => window.__lms.snap('p').events.length >= n, expectA.length, { timeout: 10000 });
    await sleep(300); // a late duplicate would show up here
    for (const [pg, name] of [[page, 'c'], [pPage, 'p']]) {
      const s = await snap(pg, name);
      assert.deepEqual(s.resets, [], `${name}: no onReset after a plain restart`);
      assert.equal(s.events.length, expectA.length, `${name}: every event exactly once (${s.events.length} seen, ${expectA.length} published)`);
      assertInOrderOnce(s.events, `t4 ${name}`);
      assertGotPublished(s.events, expectA, `t4 ${name}`);
    }
    // The demo page came back and its rooms work; its course room recovered, so no "events were lost".
    await demo.waitForSelector('#state[data-state="connected"]', { timeout: 30000 });
    await demoStep();
    await sleep(500);
    assert.equal(await resetNotices(), 0, 'the demo page shows no reset notice after a plain restart');
    const backA = (c1.states.find((x) => x.s === 'connected' && x.at > closeA.at)?.at ?? closeA.at) - closeA.at;

    // (b) A restart on a fresh, empty LMS_DATA_DIR: the history is really lost.
    const closeB = await stopEngine();
    engine.newDataDir();
    await engine.start();
    await page.waitForFunction(() => {
      const s = window.__lms.snap('c');
      return s.resets.length >= 1 && s.state === 'connected' && s.joined;
    }, null, { timeout: 45000, polling: 100 });
    const c2 = await snap(page, 'c');
    assert.equal(c2.resets.length, 1, 'onReset called once');
    const reset = c2.resets[0];
    assert.notEqual(reset.epoch, oldEpoch, 'a new epoch after the history was lost');
    assert.equal(c2.joins[c2.joins.length - 1].recovered, false, 'the re-join with since answered recovered:false');
    const after = await publishMarked(base, 't4-after-loss', 1);
    assert.equal(after.epoch, reset.epoch, 'events continue in the epoch given to onReset');
    assert.equal(after.seq, reset.seq + 1, 'the first event after the reset follows joined.seq');
    await page.waitForFunction((n) => window.__lms.snap('c').events.length >= n, expectA.length + 1, { timeout: 10000 });
    await sleep(300);
    const c3 = await snap(page, 'c');
    assert.equal(c3.events.length, expectA.length + 1, 'nothing else delivered');
    assertGotPublished(c3.events, [...expectA, after], 't4 c');
    // The demo page: reconnected, told the student the feed has a gap, and its rooms work again.
    await demo.waitForSelector('#state[data-state="connected"]', { timeout: 30000 });
    await demo.waitForSelector('#feed [data-testid="reset-notice"]', { timeout: 15000 });
    if (process.env.LMS_DEBUG) say(await demo.$$eval('#log li', (l) => l.map((x) => '     log: ' + x.textContent).join('\n')));
    await demoStep();
    assert.deepEqual(demoErrors, [], 'no uncaught error in the demo page');
    assert.deepEqual(page.pageErrors, []);
    assert.deepEqual(pPage.pageErrors, []);
    say(`   (a) same data dir: 1012 with retryAfterMs ${closeA.advice}; back after ${(backA / 1000).toFixed(1)} s, ` +
      `recovered:true, ${pRejoin.missed} missed event(s) for the client that was away, epoch kept`);
    say(`   (b) empty data dir: 1012 with retryAfterMs ${closeB.advice}; back after ${((reset.at - closeB.at) / 1000).toFixed(1)} s ` +
      `(${c2.reconnectAttempts} attempt(s) in all); onReset with epoch ${reset.epoch} seq ${reset.seq}`);
  } finally {
    await context.close();
    await pContext.close();
    await proxy.stop();
  }
}, { needsOwnEngine: true });

// ------------------------------------------------------------------ running them

/**
 * The command that starts the engine (without --demo), from LMS_ENGINE_CMD (a JSON array of argv) or
 * LMS_JAR (java [LMS_JAVA_OPTS] -jar $LMS_JAR); null when neither is set.
 */
function engineCommand() {
  const jar = process.env.LMS_JAR;
  const cmd = process.env.LMS_ENGINE_CMD;
  if (jar && cmd) throw new Error('set LMS_JAR or LMS_ENGINE_CMD, not both');
  if (cmd) {
    let argv;
    try {
      argv = JSON.parse(cmd);
    } catch (err) {
      throw new Error(`LMS_ENGINE_CMD must be a JSON array of strings (argv), e.g. ["java","-cp","...","lms.realtime.Main"]: ${err.message}`);
    }
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string') || argv[0] === '') {
      throw new Error('LMS_ENGINE_CMD must be a non-empty JSON array of strings (argv), e.g. ["java","-cp","...","lms.realtime.Main"]');
    }
    return { argv, label: `${argv[0]} … ${argv[argv.length - 1]} (LMS_ENGINE_CMD)` };
  }
  if (jar) {
    if (!fs.existsSync(jar)) throw new Error(`LMS_JAR=${jar}: no such file`);
    const javaOpts = (process.env.LMS_JAVA_OPTS ?? '-Xmx512m').split(/\s+/).filter(Boolean);
    return { argv: ['java', ...javaOpts, '-jar', path.resolve(jar)], label: path.resolve(jar) };
  }
  return null;
}

async function main() {
  const command = engineCommand();
  if (command) {
    const httpPort = Number(process.env.LMS_HTTP_PORT) || await freePort();
    const clusterPort = Number(process.env.LMS_CLUSTER_PORT) || await freePort();
    engine = new Engine(command.argv, httpPort, clusterPort);
    say(`mode: the runner owns the engine: ${command.label} on ${engine.url} (heartbeat ${HEARTBEAT_SECONDS} s, ` +
      `data ${engine.dataDir}, log ${engine.logFile})`);
    await engine.start();
    base = engine.url;
  } else if (process.env.LMS_URL) {
    base = process.env.LMS_URL.replace(/\/+$/, '');
    const u = new URL(base);
    if (!isLoopback(u.hostname)) throw new Error(`LMS_URL must be a loopback address, got ${u.hostname}`);
    say(`mode: engine at ${base}, started by someone else; the restart test is skipped (set LMS_JAR or LMS_ENGINE_CMD to run it)`);
    if (!(await ready(base))) throw new Error(`${base}/health/ready does not answer 200`);
    const status = await proxiedOriginStatus(base);
    if (status !== 101) {
      proxyProblem = `the engine answers ${status} to a socket from the page's origin through the test's proxy: ` +
        `start it with LMS_ALLOWED_ORIGINS=${new URL(base).origin}`;
      say('note: ' + proxyProblem);
    }
  } else {
    console.error('Set LMS_JAR=path/to/lms-realtime.jar or LMS_ENGINE_CMD=\'["java","-cp","...","lms.realtime.Main"]\' ' +
      '(the runner starts the engine), or LMS_URL=http://127.0.0.1:PORT.');
    process.exit(2);
  }

  const executablePath = process.env.CHROMIUM || execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  if (!executablePath) throw new Error('no chromium: apt-get install -y chromium');
  browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  say(`browser: ${executablePath} ${browser.version()}`);

  let passed = 0;
  let failed = 0;
  const skipped = [];
  const only = (process.env.LMS_TESTS || '').split(',').filter(Boolean); // e.g. LMS_TESTS=1,2b
  for (const t of tests) {
    if (only.length && !only.includes(t.name.split('.')[0])) continue;
    if (t.needsOwnEngine && !engine) {
      skipped.push(t.name);
      const why = typeof t.needsOwnEngine === 'string' ? t.needsOwnEngine : 'the runner can only restart an engine it started';
      say(`- skipped: ${t.name} (needs LMS_JAR or LMS_ENGINE_CMD: ${why})`);
      continue;
    }
    const left = SUITE_LIMIT_MS - (Date.now() - started);
    const t0 = Date.now();
    try {
      if (left < 5000) throw new Error(`not run: the suite's ${SUITE_LIMIT_MS / 1000} s are used up`);
      const limit = Math.min(t.timeoutMs, left);
      let timer;
      await Promise.race([t.fn(), new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timed out after ${limit / 1000} s`)), limit); })])
        .finally(() => clearTimeout(timer));
      passed++;
      say(`✔ ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (err) {
      failed++;
      say(`✖ ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n   ${String(err && err.stack || err).split('\n').slice(0, 6).join('\n   ')}`);
      if (engine) say('   engine log, last lines:\n' + engine.tail(15).replace(/^/gm, '     | '));
      if (engine && engine.proc && engine.proc.exitCode !== null) await engine.start().catch(() => {});
    }
  }
  if (report.attemptsInOutage !== undefined) {
    say(`reconnect attempts in the ${report.outageSeconds} s outage: ${report.attemptsInOutage}`);
  }
  if (skipped.length) say(`skipped: ${skipped.length} (${skipped.join('; ')})`);
  say(`total ${elapsed()}`);
  return { passed, failed };
}

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  if (engine) {
    const code = await engine.stop().catch(() => null);
    if (code !== 0 && code !== null) say(`note: the engine's final stop ended with ${code}`);
    try {
      engine.removeDataDirs();
    } catch (err) {
      say(`note: could not remove the engine's data directories: ${err.message}`);
    }
  }
}

process.on('exit', () => engine && engine.killNow());
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (engine) engine.killNow();
    process.exit(130);
  });
}

let result = { passed: 0, failed: 1 };
const watchdog = setTimeout(() => {
  say(`✖ the suite did not finish within ${(SUITE_LIMIT_MS + 20000) / 1000} s`);
  say(`0 passed, ${tests.length} failed`);
  if (engine) engine.killNow();
  process.exit(1);
}, SUITE_LIMIT_MS + 20000);
try {
  result = await main();
} catch (err) {
  say('✖ the suite could not run: ' + (err && err.stack || err));
  if (engine) say('   engine log, last lines:\n' + engine.tail(20).replace(/^/gm, '     | '));
  result = { passed: 0, failed: Math.max(1, result.failed) };
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
say(`${result.passed} passed, ${result.failed} failed`);
process.exit(result.failed > 0 ? 1 : 0);

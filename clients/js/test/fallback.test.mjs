// The client's fallback (contract §10, issue 24): WebSocket first, then GET /sse, then long polls,
// decided by itself; against the stand-in engine with its HTTP fallback on, and the proxies of the
// issue played by the stand-in (an upgrade refused, an upgrade held, a stream buffered until it ends).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startEngine } from './fake-engine.mjs';
import { RealtimeClient } from '../lms-realtime.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(cond, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (cond()) return; await sleep(10); }
  throw new Error('timed out waiting for ' + what);
}
const fast = { initialMs: 20, maxMs: 100, minCrashRetryMs: 20 };
/** Each test within 20 s: a client that never connects fails it rather than hang the run. */
const t = (name, fn) => test(name, { timeout: 20000 }, fn);
const kinds = (engine) => engine.handshakes.map((h) => h.kind);
/** A client of `engine` with fast backoff and a short fallback wait; `events` collects course:1's events. */
function clientOf(engine, opts = {}) {
  const events = [];
  const fallbacks = [];
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast, fallbackAfterMs: 300, storage: null, ...opts });
  client.on('fallback', (f) => fallbacks.push(f));
  const room = client.join('course:1', { onEvent: (e) => events.push(e) });
  return { client, room, events, fallbacks };
}

t('an upgrade refused (403 from a proxy): the client uses /sse with the token in Authorization; join, publish, events, presence', async () => {
  const engine = await startEngine({ fallback: true });
  engine.refuseUpgrade = true;
  const { client, room, events, fallbacks } = clientOf(engine);
  const joined = await room.ready;
  assert.equal(client.transport, 'sse');
  assert.equal(joined.type, 'joined');
  assert.deepEqual(kinds(engine), ['sse'], 'the refused upgrade never reached the engine; one stream');
  assert.equal(engine.handshakes[0].authorization, 'Bearer u1');
  assert.equal(engine.handshakes[0].url, '/sse', 'the token is not in the URL');
  assert.deepEqual(fallbacks.map((f) => [f.from, f.to]), [['websocket', 'sse']]);
  const ack = await room.publish('hello', { a: 1 });
  assert.equal(ack.type, 'ack');
  engine.publish('course:1', 'from-backend', { b: 2 });
  await until(() => events.length === 2, 3000, 'two events');
  assert.deepEqual(events.map((e) => e.seq), [1, 2]);
  assert.equal((await room.presence())[0].userId, 'u1');
  // Every frame went out as a POST with the welcome's postToken; the answers came on the stream.
  assert.ok(engine.posts.length >= 3);
  assert.equal(engine.maxPostsInFlight, 1);
  client.close();
  await engine.stop();
});

t('an upgrade held (no answer): after fallbackAfterMs the client uses /sse', async () => {
  const engine = await startEngine({ fallback: true });
  engine.holdUpgrade = true;
  const t0 = Date.now();
  const { client, room } = clientOf(engine);
  await room.ready;
  assert.equal(client.transport, 'sse');
  assert.ok(Date.now() - t0 >= 280, 'it waited for the upgrade first');
  client.close();
  await engine.stop();
});

t('a stream buffered by a proxy (no event comes): the client long-polls; publish, events, recovery across a drop', async () => {
  const engine = await startEngine({ fallback: true, pollWaitMs: 300 });
  engine.refuseUpgrade = true;
  engine.bufferStream = true;
  const { client, room, events, fallbacks } = clientOf(engine);
  await room.ready;
  assert.equal(client.transport, 'long-poll');
  assert.deepEqual(kinds(engine), ['sse', 'long-poll']);
  assert.deepEqual(fallbacks.map((f) => [f.from, f.to]), [['websocket', 'sse'], ['sse', 'long-poll']]);
  assert.equal((await room.publish('p1', {})).seq, 1);
  engine.publish('course:1', 'b1', {});
  await until(() => events.length === 2, 3000, 'two events by long poll');
  await sleep(700); // polls that ended empty (pollWaitMs) are made again
  engine.publish('course:1', 'b2', {});
  await until(() => events.length === 3, 3000, 'an event after empty polls');

  // The connection ends on the engine; events meanwhile come back with the re-join's recovery.
  engine.dropAll();
  engine.publish('course:1', 'missed', {});
  await until(() => room.joined && client.state === 'connected' && events.length === 4, 5000, 'recovered');
  assert.deepEqual(events.map((e) => e.seq), [1, 2, 3, 4]);
  const rejoin = engine.received.filter((r) => r.frame.type === 'join').pop().frame;
  assert.deepEqual(rejoin.since, { epoch: 'e1', seq: 3 });
  assert.equal(client.transport, 'long-poll', 'the reconnect started on what worked');
  client.close();
  await engine.stop();
});

t('the page remembers what worked: a later client starts on it; after webSocketRetryMs a reconnect tries WebSocket again', async () => {
  const engine = await startEngine({ fallback: true });
  engine.refuseUpgrade = true;
  const a = clientOf(engine, { webSocketRetryMs: 800 });
  await a.room.ready;
  assert.equal(a.client.transport, 'sse');
  assert.equal(engine.upgrades, 1);
  const b = clientOf(engine, { webSocketRetryMs: 800 });
  await b.room.ready;
  assert.equal(b.client.transport, 'sse');
  assert.deepEqual(b.fallbacks, [], 'the second client went straight to /sse');
  assert.equal(engine.upgrades, 1, 'without trying the upgrade');
  b.client.close();

  // The network changed: WebSockets pass again. A reconnect before webSocketRetryMs stays on /sse,
  engine.refuseUpgrade = false;
  engine.dropAll();
  await until(() => a.client.state === 'connected' && a.room.joined, 3000, 'back');
  assert.equal(a.client.transport, 'sse');
  await sleep(900);
  // one after it tries the WebSocket first, and keeps it.
  engine.dropAll();
  await until(() => a.client.state === 'connected' && a.client.transport === 'websocket' && a.room.joined, 3000, 'back on a WebSocket');
  const c = clientOf(engine);
  await c.room.ready;
  assert.equal(c.client.transport, 'websocket');
  assert.deepEqual(c.fallbacks, []);
  a.client.close();
  c.client.close();
  await engine.stop();
});

t('a refusal of /sse (401) is the engine speaking: no long poll, a reconnect with a fresh token', async () => {
  const engine = await startEngine({ fallback: true });
  engine.rejectHandshake = true;
  let tokens = 0;
  const errors = [];
  const { client } = clientOf(engine, { token: () => 'u' + ++tokens });
  client.on('error', (e) => errors.push(e));
  await until(() => tokens >= 3, 3000, 'reconnects');
  assert.ok(!kinds(engine).includes('long-poll'), 'no long poll after a 401 of /sse');
  assert.ok(errors.some((e) => e.code === 'connect_failed' && /GET \/sse answered 401 unauthorized/.test(e.message)), JSON.stringify(errors));
  engine.rejectHandshake = false;
  await until(() => client.state === 'connected', 3000, 'connected');
  // the WebSocket of the attempt under way may have been refused still: then its /sse carried it
  assert.ok(['websocket', 'sse'].includes(client.transport), client.transport);
  client.close();
  await engine.stop();
});

t('an engine without the fallback (/sse 404): the attempt fails like a refused socket, no long poll', async () => {
  const engine = await startEngine();
  engine.refuseUpgrade = true;
  const errors = [];
  const { client } = clientOf(engine);
  client.on('error', (e) => errors.push(e));
  await until(() => client.reconnectAttempts >= 2, 3000, 'reconnects');
  assert.ok(engine.http.every((h) => h.url === '/sse'), engine.http.map((h) => h.url).join());
  assert.ok(errors.some((e) => /GET \/sse answered 404/.test(e.message)));
  assert.notEqual(client.state, 'connected');
  client.close();
  await engine.stop();
});

t('transports: [\'websocket\'] never falls back', async () => {
  const engine = await startEngine({ fallback: true });
  engine.refuseUpgrade = true;
  const { client } = clientOf(engine, { transports: ['websocket'] });
  await until(() => client.reconnectAttempts >= 2, 3000, 'reconnects');
  assert.deepEqual(engine.http, []);
  assert.throws(() => new RealtimeClient({ url: engine.url, transports: ['carrier-pigeon'], WebSocket }), TypeError);
  client.close();
  await engine.stop();
});

t('frames go out one POST at a time, in order; those sent meanwhile together as a JSON array', async () => {
  const engine = await startEngine({ fallback: true });
  engine.refuseUpgrade = true;
  engine.postDelayMs = 100;
  const { client, room } = clientOf(engine);
  await room.ready;
  const acks = await Promise.all(Array.from({ length: 10 }, (_, i) => room.publish('n' + i, { i })));
  assert.deepEqual(acks.map((a) => a.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const published = engine.received.filter((r) => r.frame.type === 'publish').map((r) => r.frame.data.i);
  assert.deepEqual(published, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'applied in the order sent');
  assert.equal(engine.maxPostsInFlight, 1, 'never two POSTs at once');
  assert.ok(engine.posts.some((p) => p.body.startsWith('[')), 'frames that waited went together');
  client.close();
  await engine.stop();
});

t('a POST answered 429 is sent again after its Retry-After; nothing is lost or doubled', async () => {
  const engine = await startEngine({ fallback: true });
  engine.refuseUpgrade = true;
  const { client, room } = clientOf(engine);
  await room.ready;
  let refused = 0;
  engine.postStatus = () => (refused++ < 1 ? 429 : null);
  const ack = await room.publish('once', {});
  assert.equal(ack.seq, 1);
  assert.equal(engine.received.filter((r) => r.frame.type === 'publish').length, 1);
  assert.equal(client.state, 'connected');
  client.close();
  await engine.stop();
});

t('the engine\'s last close event ends the connection with its code and reason (4029, retryAfterMs honoured)', async () => {
  const engine = await startEngine({ fallback: true });
  engine.refuseUpgrade = true;
  const disconnects = [];
  const { client, room } = clientOf(engine);
  client.on('disconnected', (d) => disconnects.push({ ...d, at: Date.now() }));
  await room.ready;
  engine.closeAll(4029, '{"retryAfterMs":400}');
  await until(() => disconnects.length === 1, 3000, 'disconnected');
  assert.equal(disconnects[0].code, 4029);
  assert.equal(disconnects[0].retryAfterMs, 400);
  const at = disconnects[0].at;
  await until(() => client.state === 'connected', 3000, 'back');
  const back = engine.handshakes[engine.handshakes.length - 1].at;
  assert.ok(back - at >= 380, `waited the retryAfterMs (${back - at} ms)`);
  client.close();
  await engine.stop();
});

t('a POST that fails (the connection is gone: 404) drops the connection; requests reject, the client reconnects', async () => {
  const engine = await startEngine({ fallback: true });
  engine.refuseUpgrade = true;
  const { client, room } = clientOf(engine);
  await room.ready;
  engine.postStatus = () => 404;
  await assert.rejects(room.publish('lost', {}), (e) => e.code === 'disconnected');
  engine.postStatus = null;
  await until(() => client.state === 'connected' && room.joined && client.reconnectAttempts >= 1, 3000, 'back');
  assert.equal((await room.publish('again', {})).seq, 1);
  client.close();
  await engine.stop();
});

t('the heartbeat runs over POSTs; a connection whose pongs stop coming is given up', async () => {
  const engine = await startEngine({ fallback: true, heartbeatSeconds: 0.4 });
  engine.refuseUpgrade = true;
  const { client, room } = clientOf(engine);
  await room.ready;
  await sleep(1000);
  assert.ok(engine.received.filter((r) => r.frame.type === 'ping').length >= 2, 'pings went out as POSTs');
  assert.equal(client.reconnectAttempts, 0);
  engine.answerPings = false;
  await until(() => client.reconnectAttempts >= 1, 3000, 'given up');
  client.close();
  await engine.stop();
});

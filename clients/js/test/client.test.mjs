import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startEngine } from './fake-engine.mjs';
import { RealtimeClient } from '../lms-realtime.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(cond, ms = 3000, what = 'condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (cond()) return; await sleep(10); }
  throw new Error('timed out waiting for ' + what);
}
const fast = { initialMs: 20, maxMs: 100 };

test('connects with the token in the query and reports state', async () => {
  const engine = await startEngine();
  const states = [];
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket });
  client.on('state', (s) => states.push(s));
  await until(() => client.state === 'connected');
  assert.equal(engine.handshakes[0].url, '/ws?token=u1');
  assert.deepEqual(states, ['connecting', 'connected']);
  assert.equal(client.userId, 'u1');
  client.close();
  assert.equal(client.state, 'closed');
  assert.deepEqual(states, ['connecting', 'connected', 'closed']);
  await engine.stop();
});

test('join, publish ack, publish error, presence', async () => {
  const engine = await startEngine();
  const events = [];
  const client = new RealtimeClient({ url: engine.url + '?x=1', token: () => Promise.resolve('u 1'), WebSocket });
  const room = client.join('course:1', { onEvent: (e) => events.push(e) });
  const joined = await room.ready;
  assert.equal(engine.handshakes[0].url, '/ws?x=1&token=u%201');
  assert.equal(joined.type, 'joined');
  const ack = await room.publish('hello', { a: 1 });
  assert.equal(ack.type, 'ack');
  assert.equal(ack.seq, 1);
  await assert.rejects(room.publish('bad', {}), (e) => e.type === 'error' && e.code === 'forbidden');
  const users = await room.presence();
  assert.equal(users[0].userId, 'u 1');
  await until(() => events.length === 1);
  assert.equal(events[0].event, 'hello');
  const ids = engine.received.filter((r) => r.frame.type !== 'ping').map((r) => r.frame.id);
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(ids.every((id) => typeof id === 'string'));
  client.close();
  await engine.stop();
});

test('join failure rejects ready with the error frame', async () => {
  const engine = await startEngine();
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket });
  const room = client.join('forbidden:x');
  await assert.rejects(room.ready, (e) => e.code === 'forbidden');
  await assert.rejects(room.publish('x'), (e) => e.code === 'not_joined' || e.code === 'forbidden');
  client.close();
  await engine.stop();
});

test('requests made before connecting wait for the join', async () => {
  const engine = await startEngine();
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket });
  const room = client.join('course:1');
  const ack = await room.publish('early', {});
  assert.equal(ack.seq, 1);
  client.close();
  await engine.stop();
});

test('drop: pending rejects, reconnect re-calls token, re-joins with since and recovers missed events in order without duplicates', async () => {
  const engine = await startEngine();
  let tokenCalls = 0;
  const events = [];
  const resets = [];
  const client = new RealtimeClient({ url: engine.url, token: () => { tokenCalls++; return 'u1'; }, WebSocket, backoff: fast });
  const room = client.join('course:1', { onEvent: (e) => events.push(e.seq), onReset: (j) => resets.push(j) });
  await room.ready;
  engine.publish('course:1', 'a', 1);
  engine.publish('course:1', 'b', 2);
  await until(() => events.length === 2);
  const hanging = room.publish('hang', {});
  await sleep(20);
  engine.dropAll();
  await assert.rejects(hanging, (e) => e.code === 'disconnected');
  // Events published while the client is away.
  engine.publish('course:1', 'c', 3);
  engine.publish('course:1', 'd', 4);
  await until(() => events.length === 4, 3000, 'recovery');
  assert.deepEqual(events, [1, 2, 3, 4]);
  assert.equal(resets.length, 0);
  assert.equal(tokenCalls, 2);
  assert.equal(client.reconnectAttempts, 1);
  const rejoin = engine.received.filter((r) => r.frame.type === 'join').at(-1).frame;
  assert.deepEqual(rejoin.since, { epoch: 'e1', seq: 2 });
  // Live duplicates are dropped.
  const r = engine.rooms.get('course:1');
  for (const m of r.members) m.send(JSON.stringify(r.history[3]));
  engine.publish('course:1', 'e', 5);
  await until(() => events.length >= 5);
  await sleep(50);
  assert.deepEqual(events, [1, 2, 3, 4, 5]);
  client.close();
  await engine.stop();
});

test('recovered:false calls onReset and continues from the new epoch', async () => {
  const engine = await startEngine();
  const events = [];
  const resets = [];
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast });
  const room = client.join('course:1', { onEvent: (e) => events.push(e.epoch + ':' + e.seq), onReset: (j) => resets.push(j) });
  await room.ready;
  engine.publish('course:1', 'a');
  await until(() => events.length === 1);
  engine.dropAll();
  engine.resetHistory('e2');
  engine.publish('course:1', 'x');
  engine.publish('course:1', 'y');
  await until(() => resets.length === 1, 3000, 'reset');
  assert.equal(resets[0].recovered, false);
  assert.equal(resets[0].epoch, 'e2');
  assert.equal(room.epoch, 'e2');
  assert.equal(room.seq, 2);
  engine.publish('course:1', 'z');
  await until(() => events.length === 2);
  assert.deepEqual(events, ['e1:1', 'e2:3']);
  client.close();
  await engine.stop();
});

test('an unasked joined with recovered:false (the room lost its history while we stayed connected) calls onReset and moves on', async () => {
  const engine = await startEngine();
  const events = [];
  const resets = [];
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast });
  const room = client.join('course:9', { onEvent: (e) => events.push(e.epoch + ':' + e.seq), onReset: (j) => resets.push(j) });
  await room.ready;
  engine.publish('course:9', 'a');
  await until(() => events.length === 1);
  const [ws] = engine.sockets;
  engine.resetHistory('e9');
  ws.send(JSON.stringify({ type: 'joined', room: 'course:9', epoch: 'e9', seq: 0, recovered: false }));
  await until(() => resets.length === 1, 3000, 'reset');
  assert.equal(room.epoch, 'e9');
  assert.equal(room.seq, 0);
  engine.publish('course:9', 'b');
  await until(() => events.length === 2);
  assert.deepEqual(events, ['e1:1', 'e9:1']);
  assert.equal(client.reconnectAttempts, 0, 'no reconnect was needed');
  client.close();
  await engine.stop();
});

test('room token function is called on every (re)join', async () => {
  const engine = await startEngine();
  let calls = 0;
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast });
  const room = client.join('live:1', { token: async () => 'rt' + ++calls });
  await room.ready;
  engine.dropAll();
  await until(() => engine.received.filter((r) => r.frame.type === 'join').length === 2);
  const joins = engine.received.filter((r) => r.frame.type === 'join').map((r) => r.frame.token);
  assert.deepEqual(joins, ['rt1', 'rt2']);
  client.close();
  await engine.stop();
});

test('heartbeat: pings when idle; a missing pong drops and reconnects', async () => {
  const engine = await startEngine({ heartbeatSeconds: 0.4 });
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast });
  await until(() => client.state === 'connected');
  await sleep(700);
  const pings = engine.received.filter((r) => r.frame.type === 'ping').length;
  assert.ok(pings >= 1 && pings <= 6, 'pings: ' + pings);
  assert.equal(client.reconnectAttempts, 0);
  engine.answerPings = false;
  const t0 = Date.now();
  await until(() => client.reconnectAttempts === 1, 3000, 'heartbeat reconnect');
  const took = Date.now() - t0;
  assert.ok(took >= 300 && took < 3000, 'took ' + took);
  client.close();
  await engine.stop();
});

test('retryAfterMs in the close reason delays the reconnect', async () => {
  const engine = await startEngine();
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast });
  await until(() => client.state === 'connected');
  const t0 = Date.now();
  engine.closeAll(1012, JSON.stringify({ retryAfterMs: 600 }));
  await until(() => engine.handshakes.length === 2, 3000, 'reconnect');
  const waited = engine.handshakes[1].at - t0;
  assert.ok(waited >= 590, 'waited ' + waited);
  client.close();
  await engine.stop();
});

test('failing handshakes back off with growing, capped, jittered delays; close stops', async () => {
  const engine = await startEngine();
  engine.rejectHandshake = true;
  const errors = [];
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: { initialMs: 50, maxMs: 400 } });
  client.on('error', (e) => errors.push(e.code));
  await until(() => engine.handshakes.length >= 7, 6000, 'attempts');
  const gaps = engine.handshakes.slice(1).map((h, i) => h.at - engine.handshakes[i].at);
  assert.ok(gaps.every((g) => g <= 400 + 400), 'gaps ' + gaps);
  assert.ok(errors.includes('connect_failed'));
  assert.equal(client.state === 'disconnected' || client.state === 'connecting', true);
  client.close();
  const n = engine.handshakes.length;
  await sleep(600);
  assert.equal(engine.handshakes.length, n);
  assert.equal(client.state, 'closed');
  await engine.stop();
});

test('close sends 1000 and no reconnect follows', async () => {
  const engine = await startEngine();
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast });
  const room = client.join('course:1');
  await room.ready;
  const [ws] = engine.sockets;
  const closed = new Promise((r) => ws.on('close', (code) => r(code)));
  client.close();
  assert.equal(await closed, 1000);
  await assert.rejects(room.publish('x'), (e) => e.code === 'not_joined');
  await sleep(200);
  assert.equal(engine.handshakes.length, 1);
  await engine.stop();
});

test('a throwing handler is reported through error and does not break the client', async () => {
  const engine = await startEngine();
  const errors = [];
  const seen = [];
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket });
  client.on('error', (e) => errors.push(e));
  const room = client.join('course:1', { onEvent: (e) => { seen.push(e.seq); throw new Error('boom'); } });
  await room.ready;
  engine.publish('course:1', 'a');
  engine.publish('course:1', 'b');
  await until(() => seen.length === 2);
  assert.equal(errors.filter((e) => e.code === 'handler_error').length, 2);
  assert.equal(client.state, 'connected');
  client.close();
  await engine.stop();
});

test('leave answers left and stops events; removal calls onLeft; notifications and stray errors are emitted', async () => {
  const engine = await startEngine();
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket });
  const notes = [];
  const errs = [];
  client.on('notification', (n) => notes.push(n));
  client.on('error', (e) => errs.push(e));
  const events = [];
  const a = client.join('course:1', { onEvent: (e) => events.push(e) });
  let leftFrame = null;
  const b = client.join('course:2', { onLeft: (f) => { leftFrame = f; } });
  await Promise.all([a.ready, b.ready]);
  assert.equal(client.join('course:1'), a);
  const left = await a.leave();
  assert.equal(left.type, 'left');
  engine.publish('course:1', 'after');
  const [ws] = engine.sockets;
  ws.send(JSON.stringify({ type: 'left', room: 'course:2', reason: 'removed' }));
  ws.send(JSON.stringify({ type: 'notification', event: 'n', data: {}, ts: 1 }));
  ws.send(JSON.stringify({ type: 'error', code: 'rate_limited', message: 'slow down' }));
  await until(() => leftFrame && notes.length === 1 && errs.length === 1);
  assert.equal(leftFrame.reason, 'removed');
  assert.equal(events.length, 0);
  await assert.rejects(b.publish('x'), (e) => e.code === 'not_joined');
  client.close();
  await engine.stop();
});

test('user room: events before the join answer are delivered after it, once, in order', async () => {
  const engine = await startEngine();
  // The engine pushes user-room events right away (auto-join); answer the join late.
  let held = null;
  engine.joinHook = (frame, ws) => {
    if (frame.room === 'user:u1' && !held) {
      held = frame;
      engine.publish('user:u1', 'progress', { percent: 10 });
      setTimeout(() => {
        const r = engine.rooms.get('user:u1');
        ws.send(JSON.stringify({ type: 'joined', id: frame.id, room: 'user:u1', epoch: 'e1', seq: r.seq - 1 }));
        engine.publish('user:u1', 'progress', { percent: 20 });
      }, 50);
      return 'skip';
    }
    return null;
  };
  const seen = [];
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket });
  const room = client.join('user:u1', { onEvent: (e) => seen.push(e.data.percent) });
  await room.ready;
  await until(() => seen.length === 2);
  assert.deepEqual(seen, [10, 20]);
  client.close();
  await engine.stop();
});

test('heartbeat: a ping is due half an interval after the last frame sent, not on a fixed tick', async () => {
  const engine = await startEngine({ heartbeatSeconds: 0.6 });
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast });
  const room = client.join('course:1');
  await room.ready;
  const pings = () => engine.received.filter((r) => r.frame.type === 'ping').length;
  // Frames every 150 ms (less than half of 0.6 s): no ping is needed while they flow.
  const before = pings();
  for (let i = 0; i < 8; i++) {
    await room.publish('tick', { i });
    await sleep(150);
  }
  assert.equal(pings(), before, 'no ping while the app keeps sending');
  // Then silence: the first ping comes about 300 ms after the last frame sent.
  const lastSent = Date.now() - 150;
  await until(() => pings() > before, 2000, 'a ping after the silence');
  const gap = Date.now() - lastSent;
  assert.ok(gap >= 250 && gap < 800, 'first ping ' + gap + ' ms after the last frame');
  assert.equal(client.reconnectAttempts, 0);
  client.close();
  await engine.stop();
});

test('page visible again after a long silence: an immediate ping; no answer within 5 s drops the socket', async () => {
  // A stand-in for the browser's document (the client looks it up when constructed).
  const doc = new EventTarget();
  doc.visibilityState = 'visible';
  globalThis.document = doc;
  const show = (state) => { doc.visibilityState = state; doc.dispatchEvent(new Event('visibilitychange')); };
  const engine = await startEngine({ heartbeatSeconds: 8 }); // pings every 4 s, a pong window of 8 s: the probe (5 s) is sooner
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast });
  try {
    await until(() => client.state === 'connected');
    const pings = () => engine.received.filter((r) => r.frame.type === 'ping').length;
    show('hidden');
    show('visible'); // the welcome just came: nothing to check
    await sleep(100);
    assert.equal(pings(), 0, 'no ping when a frame came recently');

    // As if the tab had been hidden for a while and its timers held back: the last frame is old.
    client._lastReceivedAt -= 9000;
    show('hidden');
    await sleep(50);
    assert.equal(pings(), 0, 'no check when the page is hidden');
    show('visible');
    await until(() => pings() === 1, 500, 'a ping as soon as the page is visible');
    await sleep(5300); // the pong came: the probe passes
    assert.equal(client.reconnectAttempts, 0, 'an answered probe keeps the socket');
    assert.equal(client.state, 'connected');

    engine.answerPings = false;
    client._lastReceivedAt -= 9000;
    show('hidden');
    const t0 = Date.now();
    show('visible');
    await until(() => pings() === 3, 500, 'the second probe'); // plus the regular ping of 4 s before
    await until(() => client.reconnectAttempts === 1, 7000, 'the reconnect after an unanswered probe');
    const took = Date.now() - t0;
    assert.ok(took >= 4900 && took < 6500, 'dropped ' + took + ' ms after the page became visible');
    engine.answerPings = true;
    await until(() => client.state === 'connected', 3000, 'connected again');
  } finally {
    client.close();
    delete globalThis.document;
    await engine.stop();
  }
});

test('heartbeat timers do not form long chains (what Chrome throttles to once a minute in hidden tabs)', async () => {
  // Chrome's rule, emulated: a timer armed inside a timer callback has the nesting level of that
  // callback's timer plus one; armed from any other task (a WebSocket message, say), level 1. Chains
  // of level 5 or more are held to one run a minute in a tab hidden for 5 minutes.
  const realSetTimeout = globalThis.setTimeout;
  const realSleep = (ms) => new Promise((r) => realSetTimeout(r, ms));
  let current = 0;
  let deepest = 0;
  globalThis.setTimeout = (fn, ms, ...args) => {
    const level = current + 1;
    deepest = Math.max(deepest, level);
    return realSetTimeout((...a) => {
      const outer = current;
      current = level;
      try {
        fn(...a);
      } finally {
        current = outer;
      }
    }, ms, ...args);
  };
  const engine = await startEngine({ heartbeatSeconds: 0.2 }); // a ping every 100 ms
  let client;
  try {
    client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast });
    const end = Date.now() + 3000;
    while (client.state !== 'connected' && Date.now() < end) await realSleep(10);
    assert.equal(client.state, 'connected');
    deepest = 0;
    await realSleep(1500);
    const pings = engine.received.filter((r) => r.frame.type === 'ping').length;
    assert.ok(pings >= 8, 'pings: ' + pings);
    assert.ok(deepest < 5, 'a chain of ' + deepest + ' timers over ' + pings + ' pings');
    assert.equal(client.reconnectAttempts, 0);
  } finally {
    globalThis.setTimeout = realSetTimeout;
    if (client) client.close();
    await engine.stop();
  }
});

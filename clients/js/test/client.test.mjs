import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { spawn } from 'node:child_process';
import { startEngine, fakeJwt, claimsOf } from './fake-engine.mjs';
import { RealtimeClient } from '../lms-realtime.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(cond, ms = 3000, what = 'condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (cond()) return; await sleep(10); }
  throw new Error('timed out waiting for ' + what);
}
// Small backoff windows, and a crash floor low enough to keep the tests fast (the default is 1000 ms).
const fast = { initialMs: 20, maxMs: 100, minCrashRetryMs: 20 };
const joinsOf = (engine, ws) => engine.received.filter((r) => r.frame.type === 'join' && (!ws || r.ws === ws));
/** A stand-in for the browser's window events (the client looks `addEventListener` up when constructed). */
function fakeWindow() {
  const win = new EventTarget();
  globalThis.addEventListener = win.addEventListener.bind(win);
  globalThis.removeEventListener = win.removeEventListener.bind(win);
  return {
    online: () => win.dispatchEvent(new Event('online')),
    pagehide: () => win.dispatchEvent(new Event('pagehide')),
    restore: () => { delete globalThis.addEventListener; delete globalThis.removeEventListener; },
  };
}

/** The file URL of a module beside this one, as a string literal for a script's import. */
const moduleUrl = (p) => JSON.stringify(new URL(p, import.meta.url).href);
/**
 * Runs `script` (an ES module's text) in a Node process of its own, for what must not happen in the
 * test runner's (an uncaught exception, a process that must end by itself). Killed after `timeoutMs`.
 * @returns {Promise<{code: number|null, out: string, endedAt: number}>} exit code, stdout and stderr, when it ended
 */
async function runScript(script, timeoutMs = 15000, onOut = () => {}) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; onOut(out); });
  child.stderr.on('data', (d) => { out += d; });
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = await new Promise((r) => child.on('exit', (...a) => r(a)));
  clearTimeout(killer);
  return { code, out, endedAt: Date.now() };
}

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

test("a close after welcome reaches the app: 'disconnected' with code, reason and retryAfterMs, which the reconnect honours", async () => {
  const engine = await startEngine({ heartbeatSeconds: 0.4 });
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast });
  const ends = [];
  const order = [];
  client.on('disconnected', (d) => { ends.push(d); order.push('event'); });
  client.on('state', (s) => order.push('state:' + s));
  try {
    await until(() => client.state === 'connected');
    // 4029 with the engine's advice in the reason (contract §5)
    const reason = JSON.stringify({ retryAfterMs: 400 });
    const t0 = Date.now();
    engine.closeAll(4029, reason);
    await until(() => ends.length === 1, 3000, "the 'disconnected' event");
    assert.deepEqual({ ...ends[0], reconnectInMs: undefined }, { code: 4029, reason, retryAfterMs: 400,
      message: 'socket closed (4029 ' + reason + ')', welcomed: true, reconnectInMs: undefined });
    assert.ok(ends[0].reconnectInMs >= 350 && ends[0].reconnectInMs <= 400, 'reconnect in ' + ends[0].reconnectInMs);
    assert.deepEqual(order, ['state:connecting', 'state:connected', 'state:disconnected', 'event']);
    await until(() => engine.handshakes.length === 2 && client.state === 'connected', 3000, 'reconnect');
    assert.ok(engine.handshakes[1].at - t0 >= 390, 'came back after ' + (engine.handshakes[1].at - t0) + ' ms');
    // a close without advice: code and reason as sent, retryAfterMs 0
    engine.closeAll(4001, 'token expired');
    await until(() => ends.length === 2, 3000, "the second 'disconnected'");
    assert.equal(ends[1].code, 4001);
    assert.equal(ends[1].reason, 'token expired');
    assert.equal(ends[1].retryAfterMs, 0);
    await until(() => client.state === 'connected', 3000, 'second reconnect');
    // the client gives the socket up itself (no pong): code null, the why in message
    engine.answerPings = false;
    await until(() => ends.length === 3, 3000, "the third 'disconnected'");
    assert.equal(ends[2].code, null);
    assert.equal(ends[2].reason, '');
    assert.match(ends[2].message, /no pong/);
    assert.equal(ends[2].welcomed, true);
    client.close();
    assert.equal(ends.length, 3, 'close() emits no disconnected');
  } finally {
    client.close();
    await engine.stop();
  }
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

test("with no 'error' listener a throwing handler's exception is thrown again, uncaught; events still come and positions still move", async () => {
  // In a process of its own: there, as in an app, the exception must surface as 'uncaughtException'.
  const script = `
    import WebSocket from 'ws';
    import { startEngine } from ${moduleUrl('./fake-engine.mjs')};
    import { RealtimeClient } from ${moduleUrl('../lms-realtime.js')};
    const uncaught = [];
    process.on('uncaughtException', (e) => uncaught.push(e.message));
    const engine = await startEngine();
    const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage: null });
    client.on('welcome', () => { throw new Error('welcome listener'); });
    const seen = [];
    const room = client.join('course:1', { onEvent: (e) => { seen.push(e.seq); throw new Error('onEvent ' + e.seq); } });
    await room.ready;
    for (const n of [1, 2, 3]) engine.publish('course:1', 'e' + n);
    const ack = await room.publish('mine', {}); // the connection still works
    const end = Date.now() + 3000;
    while (seen.length < 4 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    console.log(JSON.stringify({ uncaught, seen, seq: room.seq, ack: ack.seq, state: client.state }));
    client.close();
    await engine.stop();
  `;
  const { code, out } = await runScript(script);
  assert.equal(code, 0, out);
  const r = JSON.parse(out.trim().split('\n').at(-1));
  assert.deepEqual(r.uncaught, ['welcome listener', 'onEvent 1', 'onEvent 2', 'onEvent 3', 'onEvent 4'],
    'every exception reached uncaughtException, in order');
  assert.deepEqual(r.seen, [1, 2, 3, 4], 'later events were still delivered');
  assert.equal(r.seq, 4, 'the position still advanced');
  assert.equal(r.ack, 4);
  assert.equal(r.state, 'connected');
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

test("after leave() nothing of the room reaches the app, though the engine sent it before the 'left' answer", async () => {
  const engine = await startEngine();
  // The engine publishes into the room, and sends a presence_diff, between the client's leave and its answer.
  engine.frameHook = (frame, ws) => {
    if (frame.type !== 'leave') return null;
    engine.publish(frame.room, 'in-flight', {});
    ws.send(JSON.stringify({ type: 'presence_diff', room: frame.room, joined: [], left: ['u2'] }));
    return null;
  };
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage: null });
  const seen = [];
  client.on('event', (e) => seen.push('on(event) ' + e.room + ' ' + e.event));
  const room = client.join('course:1', {
    onEvent: (e) => seen.push('onEvent ' + e.event),
    onPresence: () => seen.push('onPresence'),
  });
  try {
    await room.ready;
    engine.publish('course:1', 'before', {});
    await until(() => seen.length === 1);
    const left = await room.leave();
    assert.equal(left.type, 'left');
    assert.equal(left.id !== undefined, true, "the engine's answer");
    // the user's room still reaches on('event'): only the room left is held back
    engine.publish('user:u1', 'mine', {});
    await until(() => seen.length === 2);
    assert.deepEqual(seen, ['onEvent before', 'on(event) user:u1 mine']);
    assert.equal(client._leaving.size, 0, 'the answer ends the filter');
  } finally {
    client.close();
    await engine.stop();
  }
});

test('leave() in an onEvent of a recovered batch: the rest of the batch, and onJoined, do not reach the app', async () => {
  const engine = await startEngine();
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage: null, backoff: fast });
  const seen = [];
  const room = client.join('course:1', {
    onEvent: (e) => {
      seen.push(e.seq);
      if (e.seq === 2) room.leave();
    },
    onJoined: (j) => seen.push('joined ' + j.seq),
  });
  try {
    await room.ready;
    engine.publish('course:1', 'a', {});
    await until(() => seen.length === 2);
    engine.dropAll();
    await until(() => client.state === 'disconnected');
    for (const e of ['b', 'c', 'd']) engine.publish('course:1', e, {});
    await until(() => joinsOf(engine).length === 2, 3000, 'the re-join');
    await until(() => engine.received.some((r) => r.frame.type === 'leave'), 3000, 'the leave');
    await sleep(50);
    assert.deepEqual(seen, ['joined 0', 1, 2]);
    assert.equal(room.joined, false);
  } finally {
    client.close();
    await engine.stop();
  }
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

// ---------------------------------------------------------------- request timeouts

test('requests without an answer reject with timeout after requestTimeoutMs; a late answer is ignored; leave resolves', async () => {
  const engine = await startEngine();
  let held = null;
  engine.frameHook = (frame) => {
    if (frame.type === 'presence' || frame.type === 'leave') return 'skip';
    if (frame.type === 'publish' && frame.event === 'hang') { held = frame; }
    return null;
  };
  const errors = [];
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, requestTimeoutMs: 200 });
  client.on('error', (e) => errors.push(e));
  const room = client.join('course:1');
  await room.ready;
  const t0 = Date.now();
  const pub = room.publish('hang', {});
  const pres = room.presence();
  await assert.rejects(pub, (e) => e.type === 'error' && e.code === 'timeout' && e.timeoutMs === 200 && e.id === held.id);
  assert.ok(Date.now() - t0 >= 190, 'rejected after ' + (Date.now() - t0) + ' ms');
  await assert.rejects(pres, (e) => e.code === 'timeout');
  // The answers come late: nothing resolves twice, nothing is reported.
  const [ws] = engine.sockets;
  ws.send(JSON.stringify({ type: 'ack', id: held.id, seq: 9 }));
  ws.send(JSON.stringify({ type: 'error', id: held.id, code: 'forbidden', message: 'late' }));
  const ack = await room.publish('fine', {}); // the connection is still good
  assert.equal(ack.type, 'ack');
  assert.deepEqual(errors, []);
  assert.equal(client._pending.size, 0);
  // leave never rejects: an unanswered one resolves with a local left after the timeout.
  const left = await room.leave();
  assert.equal(left.type, 'left');
  assert.equal(client.reconnectAttempts, 0);
  client.close();
  await engine.stop();
});

test('a join whose answer times out is retried on the same socket; ready resolves with the retry, the late answer is ignored', async () => {
  const engine = await startEngine();
  let first = null;
  engine.joinHook = (frame) => {
    if (!first) { first = frame; return 'skip'; }
    return null;
  };
  const joins = [];
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast, requestTimeoutMs: 150 });
  const room = client.join('course:1', { onJoined: (j) => joins.push(j) });
  const joined = await room.ready;
  assert.notEqual(joined.id, first.id);
  const sent = joinsOf(engine);
  assert.equal(sent.length, 2);
  assert.equal(sent[0].ws, sent[1].ws, 'the retry went on the same socket');
  assert.ok(sent[1].at - sent[0].at >= 140, 'retried after the timeout');
  const [ws] = engine.sockets;
  ws.send(JSON.stringify({ type: 'joined', id: first.id, room: 'course:1', epoch: 'e1', seq: 0 }));
  await sleep(50);
  assert.equal(joins.length, 1, 'the late joined is not taken as another one');
  assert.equal(client.reconnectAttempts, 0);
  client.close();
  await engine.stop();
});

test('a join that is never answered keeps ready pending (still retried) until leave rejects it with left', async () => {
  const engine = await startEngine();
  engine.joinHook = () => 'skip';
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast, requestTimeoutMs: 100 });
  const room = client.join('course:1');
  let settled = null;
  room.ready.then(() => { settled = 'resolved'; }, (e) => { settled = e; });
  await until(() => joinsOf(engine).length >= 3, 3000, 'three join attempts');
  assert.equal(settled, null, 'ready still pending');
  await room.leave();
  await until(() => settled !== null);
  assert.equal(settled.code, 'left');
  await until(() => engine.received.some((r) => r.frame.type === 'leave'), 1000, 'a leave for the joins that may have been applied');
  const n = joinsOf(engine).length;
  await sleep(300);
  assert.equal(joinsOf(engine).length, n, 'no join after leave');
  client.close();
  await engine.stop();
});

// ---------------------------------------------------------------- rate_limited

test('rate_limited with an id rejects exactly that request; a rate-limited join is retried after retryAfterMs', async () => {
  const engine = await startEngine();
  let refusedJoinAt = null;
  engine.frameHook = (frame, ws, reply) => {
    if (frame.type === 'join' && refusedJoinAt === null) {
      refusedJoinAt = Date.now();
      reply({ type: 'error', code: 'rate_limited', message: 'slow down', retryAfterMs: 400 });
      return 'skip';
    }
    if (frame.type === 'publish' && frame.event === 'limited') {
      reply({ type: 'error', code: 'rate_limited', message: 'slow down' });
      return 'skip';
    }
    return null;
  };
  const errors = [];
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast });
  client.on('error', (e) => errors.push(e));
  const room = client.join('course:1');
  await room.ready; // the first join was refused: ready waits for the retry
  const joins = joinsOf(engine);
  assert.equal(joins.length, 2);
  const waited = joins[1].at - refusedJoinAt;
  assert.ok(waited >= 390 && waited < 1000, 'join retried after ' + waited + ' ms');
  const limited = room.publish('limited', {});
  const other = room.publish('other', {});
  await assert.rejects(limited, (e) => e.code === 'rate_limited' && typeof e.id === 'string');
  assert.equal((await other).type, 'ack', 'only the refused request rejects');
  assert.deepEqual(errors, [], 'an error with an id goes to its request only');
  client.close();
  await engine.stop();
});

// ---------------------------------------------------------------- join pacing

test('after a reconnect 150 rooms are re-joined paced: at most rejoinBurst at once, never a rate_limited', async () => {
  // The engine's limit, scaled up so the test is quick: 100 frames a second, burst 40.
  const engine = await startEngine({ rate: { perSecond: 100, burst: 40 } });
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast, rejoinPerSecond: 80 });
  const rooms = [];
  for (let i = 0; i < 150; i++) rooms.push(client.join('course:' + i));
  await Promise.all(rooms.map((r) => r.ready));
  for (let i = 0; i < 150; i += 10) engine.publish('course:' + i, 'x');
  await until(() => rooms.every((r, i) => i % 10 !== 0 || r.seq === 1), 3000, 'events');
  const [first] = engine.sockets;
  engine.dropAll();
  await until(() => engine.sockets.size === 1 && ![...engine.sockets].includes(first), 3000, 'reconnect');
  const [second] = engine.sockets;
  await until(() => joinsOf(engine, second).length === 150 && rooms.every((r) => r.joined), 6000, 'all 150 re-joined');
  const rejoins = joinsOf(engine, second);
  assert.equal(new Set(rejoins.map((r) => r.frame.room)).size, 150);
  assert.ok(rejoins.every((r) => r.frame.since && r.frame.since.epoch === 'e1'), 'every re-join carries since');
  const t0 = rejoins[0].at;
  const atOnce = rejoins.filter((r) => r.at - t0 < 10).length;
  assert.ok(atOnce <= 20, atOnce + ' joins in the first instant (10 ms)');
  // In any window of w ms: at most the burst plus what w ms earn at 80 a second (and a little slack
  // for frames the engine happens to read together).
  for (const r of rejoins) {
    for (const w of [100, 500, 1000]) {
      const n = rejoins.filter((x) => x.at >= r.at && x.at < r.at + w).length;
      assert.ok(n <= 20 + Math.ceil((80 * w) / 1000) + 3, n + ' joins within ' + w + ' ms');
    }
  }
  const took = rejoins.at(-1).at - t0;
  assert.ok(took >= 1300, 'paced over ' + took + ' ms (130 at 80 a second)');
  assert.equal(engine.limited.length, 0, 'the engine never refused a frame');
  client.close();
  await engine.stop();
});

test('with the default pacing 45 rooms stay within the engine default rate (20 a second, burst 40)', async () => {
  const engine = await startEngine({ rate: { perSecond: 20, burst: 40 } });
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast });
  const rooms = [];
  for (let i = 0; i < 45; i++) rooms.push(client.join('course:' + i));
  await Promise.all(rooms.map((r) => r.ready));
  const [first] = engine.sockets;
  const joins = joinsOf(engine, first);
  const atOnce = joins.filter((r) => r.at - joins[0].at < 50).length;
  assert.ok(atOnce <= 20, atOnce + ' joins at once: a burst of at most 20, then 10 a second');
  assert.ok(joins.at(-1).at - joins[0].at >= 2000, 'the 25 others took at least 2 s');
  engine.dropAll();
  await until(() => engine.sockets.size === 1 && ![...engine.sockets].includes(first), 3000, 'reconnect');
  await until(() => rooms.every((r) => r.joined), 6000, 'all re-joined');
  assert.equal(engine.limited.length, 0, 'the engine never refused a frame');
  client.close();
  await engine.stop();
});

// ---------------------------------------------------------------- crash floor

test('the first reconnect after a crash (no close frame) waits at least 1 s by default, jittered up to 2 s', async () => {
  const engine = await startEngine();
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: { initialMs: 20, maxMs: 100 } });
  await until(() => client.state === 'connected');
  await sleep(50);
  let t0 = Date.now();
  engine.dropAll();
  await until(() => engine.handshakes.length === 2, 3000, 'reconnect');
  const waited = engine.handshakes[1].at - t0;
  assert.ok(waited >= 990 && waited <= 3000, 'first retry after ' + waited + ' ms (1000..2000 plus timer lateness)');
  // A close the engine meant (4001: token expired) is followed by the ordinary backoff.
  await until(() => client.state === 'connected');
  t0 = Date.now();
  engine.closeAll(4001, 'token expired');
  await until(() => engine.handshakes.length === 3, 3000, 'reconnect after 4001');
  assert.ok(engine.handshakes[2].at - t0 < 900, 'after 4001: ' + (engine.handshakes[2].at - t0) + ' ms');
  client.close();
  await engine.stop();
});

// ---------------------------------------------------------------- online vs retryAfterMs

test("the browser's online event cuts the backoff short but never the engine's retryAfterMs", async () => {
  const win = fakeWindow();
  const engine = await startEngine();
  // A long crash floor: only the online event can make the reconnect quick.
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: { ...fast, minCrashRetryMs: 5000 } });
  try {
    await until(() => client.state === 'connected');
    // (a) a plain drop: online reconnects at once.
    let t0 = Date.now();
    engine.dropAll();
    await until(() => client.state === 'disconnected');
    win.online();
    await until(() => engine.handshakes.length === 2, 1000, 'online reconnect');
    assert.ok(engine.handshakes[1].at - t0 < 500);
    await until(() => client.state === 'connected');

    // (b) 1013 with retryAfterMs in the close reason: online does not come back sooner.
    t0 = Date.now();
    engine.closeAll(1013, JSON.stringify({ retryAfterMs: 800 }));
    await until(() => client.state === 'disconnected');
    await sleep(100);
    win.online();
    await until(() => engine.handshakes.length === 3, 3000, 'reconnect after 1013');
    let waited = engine.handshakes[2].at - t0;
    assert.ok(waited >= 790, 'came back ' + waited + ' ms after a retryAfterMs of 800');
    await until(() => client.state === 'connected');

    // (c) retryAfterMs on an error frame, then a drop: the same.
    const [ws] = engine.sockets;
    ws.send(JSON.stringify({ type: 'error', code: 'overloaded', message: 'later', retryAfterMs: 700 }));
    await sleep(30);
    t0 = Date.now();
    engine.dropAll();
    await until(() => client.state === 'disconnected');
    win.online();
    await sleep(100);
    win.online();
    await until(() => engine.handshakes.length === 4, 3000, 'reconnect after the error advice');
    waited = engine.handshakes[3].at - t0;
    assert.ok(waited >= 640, 'came back ' + waited + ' ms after a retryAfterMs of 700');
    assert.ok(waited < 2000, 'online still cut the 5 s floor short: ' + waited);
  } finally {
    client.close();
    win.restore();
    await engine.stop();
  }
});

// ---------------------------------------------------------------- seq gaps

test('a gap in seq (1, 2, 5) is a drop: the socket is given up and the re-join with since 2 recovers 3 and 4', async () => {
  const engine = await startEngine();
  const events = [];
  const errors = [];
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast });
  client.on('error', (e) => errors.push(e));
  const room = client.join('course:1', { onEvent: (e) => events.push(e.seq) });
  await room.ready;
  const [first] = engine.sockets;
  const closed = new Promise((r) => first.on('close', (code) => r(code)));
  engine.publish('course:1', 'a');
  engine.publish('course:1', 'b');
  await until(() => events.length === 2);
  engine.publish('course:1', 'c', null, 'backend', false); // numbered, never sent: lost on the way
  engine.publish('course:1', 'd', null, 'backend', false);
  engine.publish('course:1', 'e');
  assert.equal(await closed, 4000, 'the client closed the socket');
  await until(() => events.length === 5, 3000, 'recovery');
  assert.deepEqual(events, [1, 2, 3, 4, 5]);
  assert.equal(client.reconnectAttempts, 1);
  const rejoin = joinsOf(engine).at(-1).frame;
  assert.deepEqual(rejoin.since, { epoch: 'e1', seq: 2 });
  assert.equal(errors.filter((e) => e.code === 'seq_gap').length, 1);
  assert.equal(errors[0].room, 'course:1');
  // Duplicates are still dropped silently.
  const [second] = engine.sockets;
  second.send(JSON.stringify(engine.rooms.get('course:1').history[3]));
  engine.publish('course:1', 'f');
  await until(() => events.length === 6);
  await sleep(50);
  assert.deepEqual(events, [1, 2, 3, 4, 5, 6]);
  assert.equal(client.reconnectAttempts, 1);
  client.close();
  await engine.stop();
});

test('a durable notification numbered in the user room (contract 1.1) is not taken for a gap', async () => {
  const engine = await startEngine();
  const events = [];
  const notes = [];
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: fast });
  client.on('notification', (n) => notes.push(n.seq));
  const me = client.join('user:u1', { onEvent: (e) => events.push(e.seq) });
  await me.ready;
  engine.publish('user:u1', 'progress', { percent: 10 });
  await until(() => events.length === 1);
  const [ws] = engine.sockets;
  const r = engine.rooms.get('user:u1');
  ws.send(JSON.stringify({ type: 'notification', event: 'grade', data: {}, ts: 1, seq: ++r.seq, epoch: 'e1' }));
  engine.publish('user:u1', 'progress', { percent: 20 });
  await until(() => events.length === 2);
  assert.deepEqual(events, [1, 3]);
  assert.deepEqual(notes, [2]);
  assert.equal(client.reconnectAttempts, 0);
  client.close();
  await engine.stop();
});

test('requests made between a drop and the re-join wait for it instead of failing', async () => {
  const engine = await startEngine();
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, backoff: { ...fast, minCrashRetryMs: 200 } });
  const room = client.join('course:1');
  await room.ready;
  engine.dropAll();
  await until(() => client.state === 'disconnected');
  assert.equal(room.joined, false);
  const ack = await room.publish('after', {});
  assert.equal(ack.type, 'ack');
  assert.equal(client.reconnectAttempts, 1);
  client.close();
  await engine.stop();
});

// ---------------------------------------------------------------- publish deadlines

/** How `p` settled within `ms`: `{value}`, `{error}`, or `{pending: true}` (a test of a hang must not hang itself). */
const settledWithin = (p, ms) => Promise.race([p.then((value) => ({ value }), (error) => ({ error })), sleep(ms).then(() => ({ pending: true }))]);

test('a publish made while disconnected rejects with timeout after publishTimeoutMs and is never sent later', async () => {
  const engine = await startEngine();
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage: null, backoff: fast, publishTimeoutMs: 300 });
  const room = client.join('course:1');
  try {
    await room.ready;
    engine.rejectHandshake = true;
    engine.dropAll();
    await until(() => client.state !== 'connected');
    const t0 = Date.now();
    const r = await settledWithin(room.publish('offline', { n: 1 }), 2000);
    assert.ok(!r.pending, 'the publish is still pending after 2 s');
    assert.equal(r.error.code, 'timeout');
    assert.equal(r.error.sent, false);
    assert.equal(r.error.timeoutMs, 300);
    assert.equal(r.error.room, 'course:1');
    assert.match(r.error.message, /not sent within 300 ms/);
    assert.ok(Date.now() - t0 >= 290, 'rejected after ' + (Date.now() - t0) + ' ms');
    assert.equal(room._queue.length, 0, 'taken out of the queue');
    // back online: the room re-joins, and the publish given up is not sent after all
    engine.rejectHandshake = false;
    await until(() => room.joined, 3000, 'the re-join');
    const ack = await room.publish('online', {});
    assert.equal(ack.type, 'ack');
    assert.deepEqual(engine.received.filter((x) => x.frame.type === 'publish').map((x) => x.frame.event), ['online']);
  } finally {
    client.close();
    await engine.stop();
  }
});

test('a publish sent and never acked rejects after publishTimeoutMs (sooner than requestTimeoutMs); its late ack is ignored', async () => {
  const engine = await startEngine();
  const errors = [];
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage: null, requestTimeoutMs: 5000, publishTimeoutMs: 250 });
  client.on('error', (e) => errors.push(e));
  const room = client.join('course:1');
  try {
    await room.ready;
    const r = await settledWithin(room.publish('hang', {}), 2000);
    assert.ok(!r.pending, 'the publish is still pending after 2 s');
    const held = engine.received.find((x) => x.frame.event === 'hang').frame;
    assert.equal(r.error.code, 'timeout');
    assert.equal(r.error.sent, true);
    assert.equal(r.error.id, held.id);
    assert.equal(r.error.timeoutMs, 250);
    assert.match(r.error.message, /no ack within 250 ms/);
    assert.equal(client._pending.size, 0, 'the request is forgotten, its timer cleared');
    const [ws] = engine.sockets;
    ws.send(JSON.stringify({ type: 'ack', id: held.id, seq: 9 }));
    assert.equal((await room.publish('fine', {})).type, 'ack');
    assert.deepEqual(errors, []);
  } finally {
    client.close();
    await engine.stop();
  }
});

test('markRead before any welcome rejects with timeout after publishTimeoutMs', async () => {
  const engine = await startEngine();
  engine.rejectHandshake = true;
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage: null, backoff: fast, publishTimeoutMs: 200 });
  client.on('error', () => {});
  try {
    const r = await settledWithin(client.markRead(3), 2000);
    assert.ok(!r.pending, 'markRead is still pending after 2 s');
    assert.equal(r.error.code, 'timeout');
    assert.equal(r.error.sent, false);
    assert.equal(client._readsBeforeWelcome.length, 0);
  } finally {
    client.close();
    await engine.stop();
  }
});

test('publish deadlines leave no timer behind: a Node process ends at once after close()', async () => {
  // Default publishTimeoutMs (10 s): a deadline not cleared would keep the process up that long.
  // (a) acked publishes, (b) one waiting for its room, (c) a markRead before any welcome, (d) one timed out.
  const script = `
    import WebSocket from 'ws';
    import { startEngine } from ${moduleUrl('./fake-engine.mjs')};
    import { RealtimeClient } from ${moduleUrl('../lms-realtime.js')};
    const engine = await startEngine();
    const a = new RealtimeClient({ url: engine.url, token: 'a', WebSocket, storage: null });
    const room = a.join('course:1');
    for (let i = 0; i < 5; i++) await room.publish('e' + i, {});
    await a.markRead(1);
    const waiting = a.join('course:2', { token: () => new Promise(() => {}) }).publish('never', {});
    const b = new RealtimeClient({ url: 'ws://127.0.0.1:1/ws', token: 'b', WebSocket, storage: null });
    b.on('error', () => {});
    const read = b.markRead(2);
    const c = new RealtimeClient({ url: engine.url, token: 'c', WebSocket, storage: null, publishTimeoutMs: 50 });
    const cr = c.join('course:1');
    await cr.ready;
    const timedOut = await cr.publish('hang', {}).catch((e) => e.code);
    if (timedOut !== 'timeout') throw new Error('expected a timeout, got ' + timedOut);
    a.close(); b.close(); c.close();
    const codes = await Promise.all([waiting, read].map((p) => p.catch((e) => e.code)));
    if (codes.join() !== 'closed,closed') throw new Error('rejected with ' + codes);
    await engine.stop();
    console.log('closed');
  `;
  let closedAt = null;
  const { code, out, endedAt } = await runScript(script, 20000, (o) => { if (o.includes('closed') && closedAt === null) closedAt = Date.now(); });
  assert.equal(code, 0, 'the process ended by itself: ' + out);
  assert.ok(closedAt !== null, out);
  assert.ok(endedAt - closedAt < 1500, `it ended ${endedAt - closedAt} ms after close()`);
});

// ---------------------------------------------------------------- positions in the storage, the inbox

/** A Web Storage stand-in that records every call. */
function recordingStorage() {
  const items = new Map();
  const calls = [];
  return {
    items,
    calls,
    getItem(k) { calls.push(['get', k]); return items.has(k) ? items.get(k) : null; },
    setItem(k, v) { calls.push(['set', k, v]); items.set(k, String(v)); },
    removeItem(k) { calls.push(['remove', k]); items.delete(k); },
    sets(k) { return calls.filter((c) => c[0] === 'set' && c[1] === k).length; },
    position(k) { return items.has(k) ? JSON.parse(items.get(k)) : null; },
  };
}
const keyOf = (engine, user, room) => `lms-realtime:${engine.url}:${user}:${room}`;
const inboxJoins = (engine, user = 'u1') => joinsOf(engine).filter((r) => r.frame.room === 'user:' + user);

test('positions are stored per engine and user; a new client over the same storage (a reload) joins with since and recovers', async () => {
  const engine = await startEngine();
  const storage = recordingStorage();
  const seen = [];
  const a = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage });
  const ra = a.join('course:1', { onEvent: (e) => seen.push(e.seq) });
  await ra.ready;
  engine.publish('course:1', 'a');
  engine.publish('course:1', 'b');
  await until(() => seen.length === 2);
  a.close(); // the page goes away
  assert.deepEqual(storage.position(keyOf(engine, 'u1', 'course:1')), { epoch: 'e1', seq: 2 });

  // Published while no page was open.
  engine.publish('course:1', 'c');
  engine.publish('course:1', 'd');
  const later = [];
  const resets = [];
  const b = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage });
  const rb = b.join('course:1', { onEvent: (e) => later.push(e.seq), onReset: (j) => resets.push(j) });
  const joined = await rb.ready;
  assert.deepEqual(joinsOf(engine).at(-1).frame.since, { epoch: 'e1', seq: 2 }, 'the first join of the new client carries the stored position');
  assert.equal(joined.recovered, true);
  await until(() => later.length === 2);
  assert.deepEqual(later, [3, 4]);
  assert.deepEqual(resets, []);

  // Another user on the same browser: a position of their own, none yet.
  const c = new RealtimeClient({ url: engine.url, token: 'u2', WebSocket, storage });
  await c.join('course:1').ready;
  assert.equal(joinsOf(engine).at(-1).frame.since, undefined, "u2 does not use u1's position");
  c.close();
  assert.deepEqual(storage.position(keyOf(engine, 'u2', 'course:1')), { epoch: 'e1', seq: 4 });

  // A stored epoch the engine no longer has: recovered:false and onReset, as after any loss.
  storage.setItem(keyOf(engine, 'u1', 'course:2'), JSON.stringify({ epoch: 'gone', seq: 7 }));
  const lost = [];
  const r2 = b.join('course:2', { onReset: (j) => lost.push(j) });
  const j2 = await r2.ready;
  assert.deepEqual(joinsOf(engine).at(-1).frame.since, { epoch: 'gone', seq: 7 });
  assert.equal(j2.recovered, false);
  assert.equal(lost.length, 1);
  // leave() forgets the position: a later join starts afresh.
  await r2.leave();
  assert.equal(storage.items.has(keyOf(engine, 'u1', 'course:2')), false);
  b.close();
  assert.deepEqual(storage.position(keyOf(engine, 'u1', 'course:1')), { epoch: 'e1', seq: 4 });
  await engine.stop();
});

test('inbox: missed notifications come in seq order after a reload, then live ones; a live repeat of a missed seq is dropped', async () => {
  const engine = await startEngine();
  const storage = recordingStorage();
  const a = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage, backoff: fast });
  const first = [];
  a.on('notification', (n) => first.push(n.seq));
  await until(() => a._rooms.get('user:u1')?.joined, 3000, 'the inbox joined');
  assert.equal(inboxJoins(engine)[0].frame.since, undefined, 'nothing known yet: a plain join gives the position');
  engine.notify('u1', 'grade', { n: 1 });
  await until(() => first.length === 1);
  a.close();
  assert.deepEqual(storage.position(keyOf(engine, 'u1', 'user:u1')), { epoch: 'e1', seq: 1 });

  // While away: notifications, a progress event of another device and a read marker, in one stream.
  engine.notify('u1', 'grade', { n: 2 }); // 2
  engine.notify('u1', 'grade', { n: 3 }); // 3
  engine.publish('user:u1', 'progress', { percent: 50 }, 'u1'); // 4
  engine.publish('user:u1', 'notification.read', { seq: 2 }, 'u1'); // 5
  engine.notify('u1', 'grade', { n: 6 }); // 6
  // The inbox join of the new page is answered late; meanwhile the engine sends 6 again live, a new
  // one (7: in missed too, since the answer is made after it) and one that is not kept.
  let held = null;
  engine.joinHook = (frame, ws) => {
    if (frame.room !== 'user:u1' || held) return null;
    held = frame;
    setTimeout(() => {
      const r = engine.rooms.get('user:u1');
      ws.send(JSON.stringify(r.history[5]));
      engine.notify('u1', 'grade', { n: 7 });
      engine.notify('u1', 'flash', {}, { durable: false });
      setTimeout(() => {
        const missed = r.history.filter((e) => e.seq > frame.since.seq);
        ws.send(JSON.stringify({ type: 'joined', id: frame.id, room: 'user:u1', epoch: engine.epoch, seq: r.seq, recovered: true, missed }));
      }, 50);
    }, 20);
    return 'skip';
  };
  const notes = [];
  const events = [];
  const reads = [];
  const b = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage, backoff: fast });
  b.on('notification', (n) => notes.push(n.seq ?? n.event));
  b.on('event', (e) => events.push(e.seq + ':' + e.event));
  b.on('notification_read', (r) => reads.push(r.seq));
  await until(() => notes.length === 5, 3000, 'the recovery');
  assert.deepEqual(held.since, { epoch: 'e1', seq: 1 });
  assert.deepEqual(notes, ['flash', 2, 3, 6, 7], 'not kept: at once; kept: in order, once');
  assert.deepEqual(events, ['4:progress', '5:notification.read']);
  assert.deepEqual(reads, [2]);
  const [ws] = engine.sockets;
  ws.send(JSON.stringify(engine.rooms.get('user:u1').history[6])); // 7 again
  engine.notify('u1', 'grade', { n: 8 });
  await until(() => notes.length === 6);
  await sleep(50);
  assert.deepEqual(notes, ['flash', 2, 3, 6, 7, 8]);

  // A reconnect: the inbox is joined again with since 8, and 9 (sent while away) is recovered.
  engine.dropAll();
  await until(() => b.state === 'disconnected');
  engine.notify('u1', 'grade', { n: 9 });
  await until(() => notes.length === 7, 3000, 'recovery after the reconnect');
  assert.deepEqual(notes, ['flash', 2, 3, 6, 7, 8, 9]);
  assert.deepEqual(inboxJoins(engine).at(-1).frame.since, { epoch: 'e1', seq: 8 });
  assert.equal(b.reconnectAttempts, 1);
  b.close();
  assert.deepEqual(storage.position(keyOf(engine, 'u1', 'user:u1')), { epoch: 'e1', seq: 9 });
  await engine.stop();
});

test('storage writes are coalesced: 300 events cost a few setItem calls; pagehide and close write the last position', async () => {
  const win = fakeWindow();
  const engine = await startEngine();
  const storage = recordingStorage();
  const client = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage, storageFlushMs: 1500 });
  try {
    const seen = [];
    const room = client.join('course:1', { onEvent: (e) => seen.push(e.seq) });
    await room.ready;
    const key = keyOf(engine, 'u1', 'course:1');
    for (let i = 0; i < 200; i++) engine.publish('course:1', 'tick', { i });
    await until(() => seen.length === 200);
    assert.ok(storage.sets(key) <= 1, storage.sets(key) + ' writes during a burst of 200');
    const beforeHide = storage.sets(key);
    win.pagehide(); // the page goes away: written now, not on the timer
    assert.equal(storage.sets(key), beforeHide + 1);
    assert.deepEqual(storage.position(key), { epoch: 'e1', seq: 200 });
    for (let i = 0; i < 50; i++) engine.publish('course:1', 'tick', { i });
    await until(() => seen.length === 250);
    await until(() => storage.position(key).seq === 250, 3000, 'the timer writes the position');
    for (let i = 0; i < 50; i++) engine.publish('course:1', 'tick', { i });
    await until(() => seen.length === 300);
    client.close();
    assert.deepEqual(storage.position(key), { epoch: 'e1', seq: 300 }, 'close writes the last position');
    assert.ok(storage.sets(key) <= 5, storage.sets(key) + ' writes for 300 events');
  } finally {
    client.close();
    win.restore();
    await engine.stop();
  }
});

test('storage: null stores nothing; the default is globalThis.localStorage; a storage without the Web Storage methods is refused', async () => {
  const engine = await startEngine();
  const ls = recordingStorage();
  globalThis.localStorage = ls;
  try {
    const a = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket });
    a.on('notification', () => {});
    const ra = a.join('course:1');
    await ra.ready;
    engine.publish('course:1', 'a');
    await until(() => ra.seq === 1);
    a.close();
    assert.deepEqual(ls.position(keyOf(engine, 'u1', 'course:1')), { epoch: 'e1', seq: 1 }, 'kept in localStorage by default');
    ls.calls.length = 0;

    const b = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage: null });
    const notes = [];
    b.on('notification', (n) => notes.push(n.seq));
    const rb = b.join('course:1');
    await rb.ready;
    assert.equal(joinsOf(engine).at(-1).frame.since, undefined, 'nothing read');
    await until(() => b._rooms.get('user:u1')?.joined, 3000, 'the inbox followed in memory');
    engine.publish('course:1', 'b');
    engine.notify('u1', 'grade', {});
    await until(() => rb.seq === 2 && notes.length === 1);
    b.close();
    assert.deepEqual(ls.calls, [], 'storage: null: no call at all');
    assert.throws(() => new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage: {} }), TypeError);
  } finally {
    delete globalThis.localStorage;
    await engine.stop();
  }
});

test('markRead publishes notification.read {seq} into user:<me>; every device hears notification_read, one back later from its recovery', async () => {
  const engine = await startEngine();
  const laptop = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage: null });
  const onLaptop = [];
  laptop.on('notification_read', (r) => onLaptop.push(r));
  await until(() => laptop._rooms.get('user:u1')?.joined, 3000, "the laptop's inbox joined");
  const storage = recordingStorage();
  storage.setItem(keyOf(engine, 'u1', 'user:u1'), JSON.stringify({ epoch: 'e1', seq: 0 })); // the phone was here before
  const phone = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage });
  await assert.rejects(phone.markRead(0), (e) => e.code === 'bad_request');
  await assert.rejects(phone.markRead(1.5), (e) => e.code === 'bad_request');
  const ack = await phone.markRead(3); // called before the welcome: sent once the inbox is joined
  assert.equal(ack.type, 'ack');
  const pub = engine.received.find((r) => r.frame.type === 'publish').frame;
  assert.deepEqual({ room: pub.room, event: pub.event, data: pub.data }, { room: 'user:u1', event: 'notification.read', data: { seq: 3 } });
  assert.equal(ack.id, pub.id);
  assert.deepEqual(inboxJoins(engine).at(-1).frame.since, { epoch: 'e1', seq: 0 }, 'a stored inbox position is followed without any listener');
  await until(() => onLaptop.length === 1);
  assert.equal(onLaptop[0].seq, 3);
  assert.equal(onLaptop[0].from, 'u1');
  assert.equal(onLaptop[0].frame.event, 'notification.read');
  phone.close();

  // A tablet that was away since seq 0 hears the marker in its recovery.
  const tabletStorage = recordingStorage();
  tabletStorage.setItem(keyOf(engine, 'u1', 'user:u1'), JSON.stringify({ epoch: 'e1', seq: 0 }));
  const tablet = new RealtimeClient({ url: engine.url, token: 'u1', WebSocket, storage: tabletStorage });
  const onTablet = [];
  tablet.on('notification_read', (r) => onTablet.push(r.seq));
  await until(() => onTablet.length === 1, 3000, 'the marker from missed');
  assert.deepEqual(onTablet, [3]);
  tablet.close();
  await assert.rejects(tablet.markRead(4), (e) => e.code === 'closed');
  laptop.close();
  await engine.stop();
});

// ------------------------------------------------------------------ in-band token refresh (contract 1.1)

/**
 * A token function like a platform's: each call mints a new JWT of `sub`, valid `ttlSeconds` from now
 * (`iat` and `exp` in whole seconds, as platforms sign them). `claims(n)` adds claims to the n-th.
 */
function minter(sub, ttlSeconds, claims = () => ({})) {
  const f = () => {
    f.calls++;
    const iat = Math.floor(Date.now() / 1000);
    const token = fakeJwt({ sub, iat, exp: iat + ttlSeconds, n: f.calls, ...claims(f.calls) });
    f.tokens.push(token);
    return token;
  };
  f.calls = 0;
  f.tokens = [];
  return f;
}
const refreshesOf = (engine) => engine.received.filter((r) => r.frame.type === 'refresh');
const tokenOf = (handshake) => new URL(handshake.url, 'http://x').searchParams.get('token');

test('refresh: a new token goes out before exp, the next refresh is armed from refreshed.exp, the socket outlives its tokens', async () => {
  // The stand-in closes a socket with 4001 at its deadline, with no clock skew allowed.
  const engine = await startEngine({ expirySkewMs: 0 });
  // The engine may answer an exp of its own: the client must go by the answer, not by the token.
  engine.refreshedExp = (claims) => claims.exp - 1;
  const token = minter('u1', 3);
  const refreshed = [];
  const events = [];
  const errors = [];
  const client = new RealtimeClient({ url: engine.url, token, WebSocket, backoff: fast, refreshMarginMs: 1000 });
  client.on('refreshed', (r) => refreshed.push({ ...r, at: Date.now() }));
  client.on('error', (e) => errors.push(e));
  const room = client.join('course:1', { onEvent: (e) => events.push(e.seq) });
  await room.ready;
  const firstExp = claimsOf(token.tokens[0]).exp;
  assert.equal(client.tokenExp, firstExp, 'tokenExp read from the JWT the socket connected with');
  const connectionId = client.connectionId;
  const ticker = setInterval(() => engine.publish('course:1', 'tick'), 250);
  try {
    await until(() => refreshed.length >= 2 && Date.now() > firstExp * 1000 + 300, 8000, 'two refreshes, past the first exp');
  } finally {
    clearInterval(ticker);
  }
  const [r1, r2] = refreshesOf(engine);
  // The first: with the token function's next token, shortly before the first token's exp
  // (a fifth of a 3 s lifetime = 600 ms ahead, plus a jitter of up to 300 ms).
  assert.equal(r1.frame.token, token.tokens[1]);
  assert.equal(typeof r1.frame.id, 'string');
  assert.ok(r1.at < firstExp * 1000, `refreshed ${firstExp * 1000 - r1.at} ms before exp`);
  assert.ok(r1.at >= firstExp * 1000 - 950, `not much earlier than the margin: ${firstExp * 1000 - r1.at} ms before exp`);
  // The second: from the exp the engine answered (a second before the token's own), not from the token.
  const answered = claimsOf(token.tokens[1]).exp - 1;
  assert.equal(refreshed[0].exp, answered);
  assert.equal(r2.frame.token, token.tokens[2]);
  assert.ok(r2.at < answered * 1000, `second refresh ${answered * 1000 - r2.at} ms before the answered exp`);
  assert.ok(r2.at >= answered * 1000 - 950, `second refresh ${answered * 1000 - r2.at} ms before the answered exp`);
  assert.equal(client.tokenExp, refreshed[refreshed.length - 1].exp);
  // One socket all along: no 4001, no reconnect, no new welcome; every event once and in order.
  assert.equal(engine.expiryCloses.length, 0);
  assert.equal(engine.handshakes.length, 1);
  assert.equal(client.reconnectAttempts, 0);
  assert.equal(client.connectionId, connectionId);
  assert.equal(client.state, 'connected');
  assert.ok(events.length >= 8, 'events kept coming: ' + events.length);
  assert.deepEqual(events, events.map((_, i) => i + 1));
  assert.deepEqual(errors, []);
  client.close();
  await engine.stop();
});

test('refresh refused by the engine (error for its id) reconnects at once with a fresh token; the cycle starts again', async () => {
  const engine = await startEngine({ expirySkewMs: 0 });
  let refusals = 0;
  engine.refreshHook = () => (refusals++ === 0 ? { type: 'error', code: 'unauthorized', message: 'bad signature' } : null);
  const token = minter('u1', 3);
  const errors = [];
  const refreshed = [];
  const events = [];
  const client = new RealtimeClient({ url: engine.url, token, WebSocket, backoff: fast });
  client.on('error', (e) => errors.push(e));
  client.on('refreshed', (r) => refreshed.push(r));
  const room = client.join('course:1', { onEvent: (e) => events.push(e.seq) });
  await room.ready;
  engine.publish('course:1', 'a');
  await until(() => events.length === 1);
  const firstExp = claimsOf(token.tokens[0]).exp;
  await until(() => engine.handshakes.length === 2 && room.joined, 5000, 'the reconnect');
  assert.ok(engine.handshakes[1].at < firstExp * 1000, 'reconnected before the first token expired');
  assert.equal(engine.expiryCloses.length, 0, 'no 4001');
  // Token 2 was refused; the reconnect called the token function again.
  assert.equal(refreshesOf(engine)[0].frame.token, token.tokens[1]);
  assert.equal(tokenOf(engine.handshakes[1]), token.tokens[2]);
  const failed = errors.filter((e) => e.code === 'refresh_failed');
  assert.equal(failed.length, 1);
  assert.equal(failed[0].cause.code, 'unauthorized');
  assert.equal(client.reconnectAttempts, 1);
  const rejoin = joinsOf(engine).at(-1).frame;
  assert.deepEqual(rejoin.since, { epoch: 'e1', seq: 1 }, 'the rooms re-joined with since');
  // The new socket refreshes its own token in turn.
  await until(() => refreshed.length === 1, 5000, 'a refresh on the new socket');
  assert.equal(refreshesOf(engine).at(-1).frame.token, token.tokens[3]);
  assert.equal(engine.handshakes.length, 2);
  client.close();
  await engine.stop();
});

test('refresh: a failing token function is tried again, last shortly before exp; failing then too, the client reconnects before the 4001', async () => {
  const engine = await startEngine({ expirySkewMs: 0 });
  /** Mints like `minter`, but throws on the calls listed. */
  const failing = (sub, failOn) => {
    const mint = minter(sub, 3);
    const f = () => {
      f.calls++;
      if (failOn.includes(f.calls)) throw new Error('the platform is down');
      return mint();
    };
    f.calls = 0;
    f.mint = mint;
    return f;
  };
  const once = failing('u1', [2]); // the refresh fails, its retry works
  const always = failing('u2', [2, 3, 4]); // the refresh, its retry and the last try fail: reconnect with call 5
  // A platform that hands out its cached token until shortly before its expiry: the same token on
  // calls 1-3 (the refresh and its retry get nothing new), a new one on call 4, the last try.
  const cachedMint = minter('u3', 3);
  const cached = () => { cached.calls++; return cached.calls <= 3 && cachedMint.tokens.length ? cachedMint.tokens[0] : cachedMint(); };
  cached.calls = 0;
  const users = ['u1', 'u2', 'u3'];
  const errs = Object.fromEntries(users.map((u) => [u, []]));
  const refreshed = Object.fromEntries(users.map((u) => [u, []]));
  const clients = [once, always, cached].map((token, i) => {
    const c = new RealtimeClient({ url: engine.url, token, WebSocket, backoff: fast });
    c.on('error', (e) => errs[users[i]].push(e.code));
    c.on('refreshed', (r) => refreshed[users[i]].push(r));
    return c;
  });
  const [a, b, c] = clients;
  await Promise.all(clients.map((cl) => cl.join('course:1').ready));
  const expA = claimsOf(once.mint.tokens[0]).exp;
  const expB = claimsOf(always.mint.tokens[0]).exp;
  const expC = claimsOf(cachedMint.tokens[0]).exp;
  await until(() => refreshed.u1.length === 1, 5000, 'the retried refresh');
  assert.ok(Date.now() < expA * 1000, 'the retry came before the expiry');
  assert.equal(once.calls, 3);
  assert.deepEqual(errs.u1, ['token_error']);
  await until(() => refreshed.u3.length === 1, 5000, 'the last try of the cached token');
  assert.ok(Date.now() < expC * 1000, 'the last try came before the expiry');
  assert.equal(cached.calls, 4);
  assert.equal(refreshesOf(engine).filter((r) => r.ws.userId === 'u3').length, 1, 'the cached token was never sent');
  assert.deepEqual(errs.u3, ['token_error', 'token_error']);
  await until(() => engine.handshakes.length === 4, 5000, "u2's reconnect");
  const h = engine.handshakes[3];
  assert.ok(h.at < expB * 1000, `u2 reconnected ${expB * 1000 - h.at} ms before its token expired`);
  assert.equal(tokenOf(h), always.mint.tokens[1], 'with the token of the 5th call');
  assert.equal(always.calls, 5);
  assert.deepEqual(errs.u2, ['token_error', 'token_error', 'token_error']);
  assert.equal(refreshed.u2.length, 0);
  assert.equal(refreshesOf(engine).filter((r) => r.ws.userId === 'u2').length, 0, 'no refresh frame without a token');
  assert.equal(engine.expiryCloses.length, 0, 'no 4001 for any of them');
  assert.equal(a.reconnectAttempts + c.reconnectAttempts, 0, 'u1 and u3 kept their sockets');
  await until(() => b.state === 'connected');
  for (const cl of clients) cl.close();
  await engine.stop();
});

test('refresh: a room the new token no longer allows is left with reason revoked and ends (onLeft, no re-join)', async () => {
  const engine = await startEngine();
  // The first token enrols in courses 1 and 2, the next ones in course 1 only.
  const token = minter('u1', 3, (n) => ({ courses: n === 1 ? { 1: 'student', 2: 'student' } : { 1: 'student' } }));
  const lefts = [];
  const client = new RealtimeClient({ url: engine.url, token, WebSocket, backoff: fast });
  const kept = client.join('course:1');
  const dropped = client.join('course:2', { onLeft: (f) => lefts.push(f) });
  await Promise.all([kept.ready, dropped.ready]);
  await until(() => lefts.length === 1, 5000, 'the revocation');
  assert.equal(lefts[0].reason, 'revoked');
  assert.equal(lefts[0].room, 'course:2');
  assert.equal(dropped.joined, false);
  await assert.rejects(dropped.publish('x'), (e) => e.code === 'not_joined');
  assert.equal(kept.joined, true);
  assert.equal((await kept.publish('still', {})).type, 'ack');
  // After a drop only the room still allowed is joined again.
  const before = joinsOf(engine).length;
  engine.dropAll();
  await until(() => client.state === 'connected' && kept.joined, 3000, 'the re-join');
  await sleep(100);
  assert.deepEqual(joinsOf(engine).slice(before).map((r) => r.frame.room), ['course:1']);
  client.close();
  await engine.stop();
});

test('no refresh with refresh:false (the 4001 reconnects as before) nor for a token that is not a JWT', async () => {
  const engine = await startEngine({ expirySkewMs: 0 });
  const off = new RealtimeClient({ url: engine.url, token: minter('u1', 2), WebSocket, backoff: fast, refresh: false });
  const opaque = new RealtimeClient({ url: engine.url, token: () => 'u2', WebSocket, backoff: fast });
  await Promise.all([off.join('course:1').ready, opaque.join('course:1').ready]);
  assert.equal(opaque.tokenExp, null);
  await until(() => engine.expiryCloses.length === 1 && off.state === 'connected' && off.reconnectAttempts === 1, 5000, 'the 4001 and its reconnect');
  assert.deepEqual(refreshesOf(engine), []);
  assert.equal(opaque.reconnectAttempts, 0);
  off.close();
  opaque.close();
  await engine.stop();
});

test('refresh timers do not keep a Node process alive after close()', async () => {
  // A process of its own, which must end by itself once its clients are closed and the engine stopped:
  // (a) the next refresh an hour away, (b) closed right after a refresh (the next one armed), (c)
  // closed while the token function is still working on a refresh.
  const script = `
    import WebSocket from 'ws';
    import { startEngine, fakeJwt } from ${moduleUrl('./fake-engine.mjs')};
    import { RealtimeClient } from ${moduleUrl('../lms-realtime.js')};
    const engine = await startEngine();
    const mint = (sub, ttl) => { const iat = Math.floor(Date.now() / 1000); return fakeJwt({ sub, iat, exp: iat + ttl }); };
    const a = new RealtimeClient({ url: engine.url, token: () => mint('a', 3600), WebSocket });
    const b = new RealtimeClient({ url: engine.url, token: () => mint('b', 2), WebSocket });
    let calls = 0;
    let working = null;
    const c = new RealtimeClient({ url: engine.url, WebSocket,
      token: () => (++calls === 1 ? mint('c', 2) : new Promise((r) => { working = r; })) });
    await Promise.all([a.join('course:1').ready, b.join('course:1').ready, c.join('course:1').ready]);
    await new Promise((r) => b.on('refreshed', r));
    while (working === null) await new Promise((r) => setTimeout(r, 20));
    if (a.tokenExp === null || b.tokenExp === null) throw new Error('no token expiry known');
    a.close(); b.close(); c.close();
    await engine.stop();
    console.log('closed');
  `;
  let closedAt = null;
  const { code, out, endedAt } = await runScript(script, 15000, (o) => { if (o.includes('closed') && closedAt === null) closedAt = Date.now(); });
  assert.equal(code, 0, 'the process ended by itself: ' + out);
  assert.ok(closedAt !== null, out);
  assert.ok(endedAt - closedAt < 1500, `it ended ${endedAt - closedAt} ms after close()`);
});

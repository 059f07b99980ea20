// A tiny stand-in for the engine (contract §3), enough to drive the client's reconnect logic.
import { WebSocketServer } from 'ws';
import http from 'node:http';

/**
 * A token the stand-in takes like a JWT: base64url JSON claims between a header and a signature that
 * nobody checks. The engine's rules that matter to the client are kept: `sub` is the user, `exp`
 * (seconds) the socket's deadline, `courses` the course rooms allowed.
 */
export function fakeJwt(claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return part({ alg: 'HS256', typ: 'JWT' }) + '.' + part(claims) + '.sig';
}

/** The claims of a fakeJwt, or null for any other token (the plain user ids most tests use). */
export function claimsOf(token) {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) return null;
  try {
    return JSON.parse(Buffer.from(parts[1], 'base64url').toString());
  } catch {
    return null;
  }
}

export async function startEngine(opts = {}) {
  const engine = {
    heartbeatSeconds: opts.heartbeatSeconds ?? 25,
    answerPings: true,
    rejectHandshake: false,
    epoch: 'e1',
    rooms: new Map(), // name -> {seq, history: [], members: Set<ws>}
    sockets: new Set(),
    received: [], // every frame from clients: {ws, frame}
    handshakes: [], // {url, at}
    historyFrom: 0, // events with seq <= this are "lost" (forces recovered:false)
    joinHook: null, // (frame, ws) => frame-to-send | null
    frameHook: null, // (frame, ws, reply) => 'skip' (stay silent: the hook answered, or never will) | null
    // A token bucket per socket like the engine's (lms.limits): every frame over it is answered
    // rate_limited with the request's id (and retryAfterMs when rateRetryAfterMs is set).
    rate: opts.rate ?? null, // {perSecond, burst} | null (no limit)
    rateRetryAfterMs: null,
    limited: [], // frames refused for the rate: {ws, frame, at}
    // Like the engine's 4001: a socket whose token has an exp is closed at exp + skew (ms), unless a
    // refresh moved it. null: never closed for expiry.
    expirySkewMs: opts.expirySkewMs ?? null,
    refreshHook: null, // (frame, ws) => frame-to-send (e.g. an error) | 'skip' (never answered) | null
    refreshedExp: null, // (claims) => the exp a refresh answers and moves the deadline to (default: the token's)
    expiryCloses: [], // {ws, at}: sockets closed with 4001
  };
  const server = http.createServer((req, res) => { res.writeHead(404); res.end(); });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    // An upgrade socket has no 'error' listener of its own: a client giving up on a refused
    // handshake can reset it (read ECONNRESET), which must not become an uncaught error of the test.
    socket.on('error', () => {});
    engine.handshakes.push({ url: req.url, at: Date.now() });
    if (engine.rejectHandshake) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 24\r\n\r\n{"error":"unauthorized"}');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req));
  });
  function room(name) {
    if (!engine.rooms.has(name)) engine.rooms.set(name, { seq: 0, history: [], members: new Set() });
    return engine.rooms.get(name);
  }
  // deliver = false: numbered and kept in the history, but not sent to the members (a lost frame).
  engine.publish = (name, event, data, from = 'backend', deliver = true) => {
    const r = room(name);
    const frame = { type: 'event', room: name, seq: ++r.seq, epoch: engine.epoch, event, data, from, ts: Date.now() };
    r.history.push(frame);
    if (deliver) for (const m of r.members) if (m.readyState === 1) m.send(JSON.stringify(frame));
    return frame;
  };
  // A notification from the platform to every socket of a user (contract 1.1): kept (the default) it
  // is numbered in the user's room, in one sequence with that room's events, and kept in its history.
  engine.notify = (userId, event, data, { durable = true } = {}) => {
    const name = 'user:' + userId;
    let frame = { type: 'notification', event, data, ts: Date.now() };
    if (durable) {
      const r = room(name);
      frame = { type: 'notification', room: name, seq: ++r.seq, epoch: engine.epoch, event, data, ts: frame.ts };
      r.history.push(frame);
    }
    for (const s of engine.sockets) if (s.userId === userId && s.readyState === 1) s.send(JSON.stringify(frame));
    return frame;
  };
  function overRate(ws) {
    if (!engine.rate) return false;
    const t = Date.now();
    const b = ws.bucket || (ws.bucket = { tokens: engine.rate.burst, at: t });
    b.tokens = Math.min(engine.rate.burst, b.tokens + ((t - b.at) / 1000) * engine.rate.perSecond);
    b.at = t;
    if (b.tokens < 1) return true;
    b.tokens--;
    return false;
  }
  engine.resetHistory = (newEpoch) => {
    engine.epoch = newEpoch;
    for (const r of engine.rooms.values()) { r.seq = 0; r.history = []; }
  };
  /** (Re)arms the socket's 4001 at its token's exp + expirySkewMs. */
  function armExpiry(ws, exp) {
    clearTimeout(ws.expiryTimer);
    ws.exp = exp;
    if (engine.expirySkewMs === null || typeof exp !== 'number') return;
    ws.expiryTimer = setTimeout(() => {
      engine.expiryCloses.push({ ws, at: Date.now() });
      ws.close(4001, 'token expired');
    }, Math.max(0, exp * 1000 + engine.expirySkewMs - Date.now()));
  }
  /** The engine's refresh (docs/protocol.md §8): same sub, valid token; rooms the new courses lack are left. */
  function refresh(frame, ws, reply) {
    if (typeof frame.token !== 'string' || frame.token === '') {
      reply({ type: 'error', code: 'bad_request', message: 'refresh needs a token' });
      return;
    }
    const claims = claimsOf(frame.token);
    if (!claims || typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) {
      reply({ type: 'error', code: 'unauthorized', message: 'token invalid or expired' });
      return;
    }
    if (claims.sub !== ws.userId) {
      reply({ type: 'error', code: 'forbidden', message: 'a token of another user' });
      return;
    }
    if (claims.courses && typeof claims.courses === 'object') {
      for (const [name, r] of engine.rooms) {
        if (name.startsWith('course:') && r.members.has(ws) && !(name.slice('course:'.length) in claims.courses)) {
          r.members.delete(ws);
          ws.send(JSON.stringify({ type: 'left', room: name, reason: 'revoked' }));
        }
      }
    }
    const exp = engine.refreshedExp ? engine.refreshedExp(claims) : claims.exp;
    armExpiry(ws, exp);
    reply({ type: 'refreshed', exp });
  }
  function onConnection(ws, req) {
    const url = new URL(req.url, 'http://x');
    const token = url.searchParams.get('token');
    const claims = claimsOf(token);
    ws.userId = (claims ? claims.sub : token) || 'anon';
    engine.sockets.add(ws);
    ws.on('close', () => {
      clearTimeout(ws.expiryTimer);
      engine.sockets.delete(ws);
      for (const r of engine.rooms.values()) r.members.delete(ws);
    });
    if (claims) armExpiry(ws, claims.exp);
    ws.send(JSON.stringify({ type: 'welcome', connectionId: 'c' + engine.handshakes.length, userId: ws.userId, heartbeatSeconds: engine.heartbeatSeconds }));
    room('user:' + ws.userId).members.add(ws);
    ws.on('message', (buf) => {
      const frame = JSON.parse(buf.toString());
      engine.received.push({ ws, frame, at: Date.now() });
      const reply = (f) => ws.send(JSON.stringify(frame.id ? { ...f, id: frame.id } : f));
      if (overRate(ws)) {
        engine.limited.push({ ws, frame, at: Date.now() });
        const retry = engine.rateRetryAfterMs ? { retryAfterMs: engine.rateRetryAfterMs } : {};
        reply({ type: 'error', code: 'rate_limited', message: 'more than ' + engine.rate.perSecond + ' frames per second', ...retry });
        return;
      }
      if (engine.frameHook && engine.frameHook(frame, ws, reply) === 'skip') return;
      switch (frame.type) {
        case 'ping':
          if (engine.answerPings) reply({ type: 'pong' });
          break;
        case 'join': {
          if (engine.joinHook) {
            const f = engine.joinHook(frame, ws);
            if (f === 'skip') break;
            if (f) { reply(f); break; }
          }
          if (frame.room.startsWith('forbidden:')) { reply({ type: 'error', code: 'forbidden', message: 'no' }); break; }
          const r = room(frame.room);
          r.members.add(ws);
          const out = { type: 'joined', room: frame.room, epoch: engine.epoch, seq: r.seq };
          if (frame.since) {
            const ok = frame.since.epoch === engine.epoch && frame.since.seq >= engine.historyFrom;
            out.recovered = ok;
            if (ok) out.missed = r.history.filter((e) => e.seq > frame.since.seq);
          }
          reply(out);
          break;
        }
        case 'leave':
          room(frame.room).members.delete(ws);
          reply({ type: 'left', room: frame.room });
          break;
        case 'publish': {
          if (!room(frame.room).members.has(ws)) { reply({ type: 'error', code: 'not_joined', message: 'join first' }); break; }
          if (frame.event === 'bad') { reply({ type: 'error', code: 'forbidden', message: 'nope' }); break; }
          if (frame.event === 'hang') break; // never answered
          const evt = engine.publish(frame.room, frame.event, frame.data, ws.userId);
          reply({ type: 'ack', seq: evt.seq });
          break;
        }
        case 'refresh': {
          const f = engine.refreshHook ? engine.refreshHook(frame, ws) : null;
          if (f === 'skip') break;
          if (f) reply(f);
          else refresh(frame, ws, reply);
          break;
        }
        case 'presence':
          reply({ type: 'presence', room: frame.room, users: [...room(frame.room).members].map((m) => ({ userId: m.userId, name: m.userId, role: 'student', connections: 1 })) });
          break;
        default:
          reply({ type: 'error', code: 'unknown_type', message: frame.type });
      }
    });
  }
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  engine.port = server.address().port;
  engine.url = `ws://127.0.0.1:${engine.port}/ws`;
  engine.dropAll = () => { for (const s of engine.sockets) s.terminate(); };
  engine.closeAll = (code, reason) => { for (const s of engine.sockets) s.close(code, reason); };
  engine.stop = () => new Promise((r) => { for (const s of engine.sockets) s.terminate(); wss.close(); server.close(() => r()); });
  return engine;
}

// A tiny stand-in for the engine (contract §3), enough to drive the client's reconnect logic.
import { WebSocketServer } from 'ws';
import http from 'node:http';
import { EventEmitter } from 'node:events';
import crypto from 'node:crypto';

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
    // The HTTP fallback of contract §10 (opts.fallback): GET /sse, GET /sse?mode=poll, POST {postUrl},
    // GET {Lms-Poll-Url}; without it /sse answers 404, as an engine of contract 1.1 does.
    fallback: opts.fallback ?? false,
    http: [], // every HTTP request: {method, url, authorization, at}
    posts: [], // POST bodies taken: {link, body, at}
    postDelayMs: 0, // the 204 of a POST comes this much later (the frames are applied at once)
    postsInFlight: 0,
    maxPostsInFlight: 0,
    postStatus: null, // (link) => a status to answer a POST with instead (e.g. 429), nothing applied | null
    pollWaitMs: opts.pollWaitMs ?? 1000, // how long a poll waits for frames
    // What a proxy in front of the engine does: refuse the upgrade (403), hold it (never answered),
    // buffer streamed answers until they end (the stream's bytes never come).
    refuseUpgrade: false,
    holdUpgrade: false,
    upgrades: 0, // upgrade requests, those refused or held included
    bufferStream: false,
  };
  const held = new Set(); // upgrade sockets held by holdUpgrade, destroyed by stop()
  const links = new Map(); // fallback connections by id
  const server = http.createServer((req, res) => {
    engine.http.push({ method: req.method, url: req.url, authorization: req.headers.authorization, at: Date.now() });
    if (!engine.fallback || !req.url.startsWith('/sse')) { res.writeHead(404); res.end(); return; }
    fallbackRequest(req, res);
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    // An upgrade socket has no 'error' listener of its own: a client giving up on a refused
    // handshake can reset it (read ECONNRESET), which must not become an uncaught error of the test.
    socket.on('error', () => {});
    engine.upgrades++;
    if (engine.refuseUpgrade) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    if (engine.holdUpgrade) {
      held.add(socket);
      socket.on('close', () => held.delete(socket));
      return;
    }
    engine.handshakes.push({ url: req.url, at: Date.now(), kind: 'websocket' });
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
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    const token = url.searchParams.get('token') ?? (bearer ? bearer[1] : null);
    const claims = claimsOf(token);
    ws.userId = (claims ? claims.sub : token) || 'anon';
    engine.sockets.add(ws);
    ws.on('close', () => {
      clearTimeout(ws.expiryTimer);
      engine.sockets.delete(ws);
      for (const r of engine.rooms.values()) r.members.delete(ws);
    });
    if (claims) armExpiry(ws, claims.exp);
    const welcome = { type: 'welcome', connectionId: 'c' + engine.handshakes.length, userId: ws.userId, heartbeatSeconds: engine.heartbeatSeconds };
    if (ws.postToken) Object.assign(welcome, { postUrl: '/sse/' + ws.id, postToken: ws.postToken });
    ws.send(JSON.stringify(welcome));
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
  /**
   * A fallback connection, shaped like a `ws` socket for onConnection: `send` writes an SSE event (or
   * queues a frame for the next poll), `close` sends the last `close` event, POSTs come as 'message'.
   */
  function fallbackLink(kind, res) {
    const link = new EventEmitter();
    link.kind = kind;
    link.id = 'h' + (links.size + engine.handshakes.length + 1) + crypto.randomBytes(3).toString('hex');
    link.postToken = crypto.randomBytes(12).toString('base64url');
    link.readyState = 1;
    link.frames = []; // long poll: frames not yet taken, from position link.base
    link.base = 0;
    link.waiting = null; // long poll: the poll that waits, {res, timer}
    link.res = res;
    links.set(link.id, link);
    const gone = () => {
      if (link.readyState === 3) return;
      link.readyState = 3;
      link.emit('close');
    };
    link.send = (text) => {
      if (link.readyState !== 1) return;
      if (kind === 'sse') {
        if (!engine.bufferStream) link.res.write('data: ' + text + '\n\n');
      } else {
        link.frames.push(text);
        answerPoll(link);
      }
    };
    link.close = (code, reason) => {
      if (link.readyState !== 1) return;
      link.send(JSON.stringify({ type: 'close', code, reason: reason || '' }));
      if (kind === 'sse') link.res.end();
      gone();
      if (kind === 'sse') links.delete(link.id); // a poll still takes the close frame
    };
    link.terminate = () => {
      links.delete(link.id);
      if (kind === 'sse') link.res.destroy();
      else if (link.waiting) link.waiting.res.destroy();
      gone();
    };
    if (kind === 'sse') res.on('close', () => { links.delete(link.id); gone(); });
    return link;
  }
  /** Answers the waiting poll when there are frames (or `force`): the frames and the next poll's URL. */
  function answerPoll(link, force = false) {
    const w = link.waiting;
    if (!w || (!force && link.frames.length === 0)) return;
    link.waiting = null;
    clearTimeout(w.timer);
    const next = link.base + link.frames.length;
    w.res.writeHead(200, { 'Content-Type': 'application/json', 'Lms-Poll-Url': '/sse/' + link.id + '/poll?key=' + link.key + '&from=' + next });
    w.res.end('[' + link.frames.join(',') + ']');
    if (link.readyState === 3 && link.frames.length > 0) links.delete(link.id); // the close frame was taken
  }
  function fallbackRequest(req, res) {
    const url = new URL(req.url, 'http://x');
    const m = /^\/sse\/([^/]+)(\/poll)?$/.exec(url.pathname);
    if (req.method === 'GET' && url.pathname === '/sse') {
      const kind = url.searchParams.get('mode') === 'poll' ? 'long-poll' : 'sse';
      engine.handshakes.push({ url: req.url, at: Date.now(), kind, authorization: req.headers.authorization });
      if (engine.rejectHandshake) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end('{"error":"unauthorized","message":"no"}');
        return;
      }
      const link = fallbackLink(kind, res);
      if (kind === 'sse') {
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
        if (!engine.bufferStream) res.write(':ok\n\n');
      } else {
        link.key = crypto.randomBytes(8).toString('hex');
        link.waiting = { res, timer: null };
      }
      onConnection(link, req);
      if (kind === 'long-poll') answerPoll(link, true);
      return;
    }
    if (req.method === 'POST' && m && !m[2]) {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        const link = links.get(m[1]);
        const answer = (status) => {
          engine.postsInFlight--;
          res.writeHead(status);
          res.end();
        };
        engine.postsInFlight++;
        engine.maxPostsInFlight = Math.max(engine.maxPostsInFlight, engine.postsInFlight);
        if (!link || link.readyState !== 1) { answer(404); return; }
        if (req.headers.authorization !== 'Bearer ' + link.postToken) { answer(403); return; }
        const status = engine.postStatus ? engine.postStatus(link) : null;
        if (status) { answer(status); return; }
        engine.posts.push({ link, body, at: Date.now() });
        const frames = body.startsWith('[') ? JSON.parse(body).map((f) => JSON.stringify(f)) : [body];
        for (const f of frames) link.emit('message', f);
        if (engine.postDelayMs > 0) setTimeout(() => answer(204), engine.postDelayMs);
        else answer(204);
      });
      return;
    }
    if (req.method === 'GET' && m && m[2]) {
      const link = links.get(m[1]);
      if (!link || url.searchParams.get('key') !== link.key) { res.writeHead(404); res.end(); return; }
      const from = Number(url.searchParams.get('from'));
      while (link.base < from && link.frames.length > 0) { link.frames.shift(); link.base++; }
      if (link.waiting) answerPoll(link, true); // one poll at a time: the one before gets []
      link.waiting = { res, timer: setTimeout(() => answerPoll(link, true), engine.pollWaitMs) };
      res.on('close', () => { if (link.waiting && link.waiting.res === res) { clearTimeout(link.waiting.timer); link.waiting = null; } });
      answerPoll(link);
      return;
    }
    res.writeHead(404);
    res.end();
  }
  engine.links = links;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  engine.port = server.address().port;
  engine.url = `ws://127.0.0.1:${engine.port}/ws`;
  engine.dropAll = () => { for (const s of engine.sockets) s.terminate(); };
  engine.closeAll = (code, reason) => { for (const s of engine.sockets) s.close(code, reason); };
  engine.stop = () => new Promise((r) => {
    for (const s of engine.sockets) s.terminate();
    for (const s of held) s.destroy();
    wss.close();
    server.close(() => r());
    server.closeAllConnections?.();
  });
  return engine;
}

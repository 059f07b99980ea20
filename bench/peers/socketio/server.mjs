// The Socket.IO peer of the lms-realtime benchmarks (bench/run.sh, issues 7 and 23): Socket.IO 4.8 with rooms,
// as an application would run it: one process, default settings (no per-message deflate, websocket and
// polling transports both allowed; the driver speaks Engine.IO v4 over WebSocket directly).
//   [LMS_JWT_SECRET=...] node server.mjs <port>
// Fan-out (issue 7), unchanged:
// - a client connects to /socket.io/?EIO=4&transport=websocket[&room=r] and joins room `room` (default r);
// - POST /publish?room=r with a JSON body: io.to(room).emit('event', body), the parsed body unchanged
//   (Socket.IO encodes the packet once per broadcast and writes it to every member), answered 202;
// - GET /health: {"sockets": N};
// - GET /stats[?gc=1]: process.memoryUsage() (after global.gc() with gc=1, when node runs with
//   --expose-gc) for the sockets-held scenario: {"gc":true|false,"sockets":N,"rss":..,"heapUsed":..,...}.
// The learning platform's application (issue 23: the publish and lms-day scenarios), in memory, with the
// engine's tokens (HS256 JWTs signed with LMS_JWT_SECRET: sub, exp, courses, roles), verified with node's
// crypto on every connect; a backend's bearer once, then from a map of the bearers seen (see `bearer`):
// - a client with ?token=JWT (or auth.token) is user `sub`: it is put in room `user:{sub}` at connect (as the
//   engine joins it automatically); it may then emit
//     'join' (room, ack)              course:{id} of its `courses` claim, or its own user: room -> ack({room})
//     'publish' ({room,event,data}, ack)  its own user: room, or a course it teaches -> io.to(room).emit(event,
//                                     data), then ack({ok:true}); no numbering, no history: memory only
//     'presence' ({room}, ack)        a course it teaches, or its own user: room -> ack({room, users}) from the
//                                     in-memory adapter's rooms map, one entry per user {userId,name,role,connections}
//   a refused call answers ack({error:'forbidden'|'bad_request'}); a bad token refuses the connect;
// - POST /publish with {"room","event","data"} and Authorization: Bearer <service JWT> (no ?room=):
//   io.to(room).emit(event, data), 202 {"room": room};
// - POST /batch with {"items":[{"user","event","data"} | {"room","event","data"}, ...]} (1 to 1000 items) and
//   the service JWT: user items io.to('user:'+user).emit('notification', {event, data, ts}), room items as
//   /publish; 200 {"results":[{"status":202,"delivered":N} | {"status":202,"room":R} | {"status":400,...}]}.
// A missing or bad bearer gets 401, a token without the service role 403.
import crypto from 'node:crypto';
import http from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.argv[2] || process.env.PORT || 3000);
const secret = process.env.LMS_JWT_SECRET || '';
const MAX_BATCH = 1000;

const answer = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};

// HS256 only, exp required (30 s of skew), sub a string: the claims, or null
const verify = (token) => {
  if (!secret || typeof token !== 'string') return null;
  try {
    const [h, p, s] = token.split('.');
    if (!s) return null;
    if (JSON.parse(Buffer.from(h, 'base64url')).alg !== 'HS256') return null;
    const sig = crypto.createHmac('sha256', secret).update(`${h}.${p}`).digest();
    const given = Buffer.from(s, 'base64url');
    if (given.length !== sig.length || !crypto.timingSafeEqual(given, sig)) return null;
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number') return null;
    if (claims.exp * 1000 + 30_000 < Date.now()) return null;
    return claims;
  } catch (e) {
    return null;
  }
};

// a backend's bearer is verified once and then found in this map until its exp (what an application would
// do, and what the engine does since issue 23; before, it verified the signature on every call); at most 1,000 kept
const bearers = new Map();
const bearer = (token) => {
  const known = bearers.get(token);
  if (known && known.exp * 1000 + 30_000 >= Date.now()) return known;
  const claims = verify(token);
  if (claims) {
    if (bearers.size >= 1000) bearers.clear();
    bearers.set(token, claims);
  }
  return claims;
};

const service = (req, res) => {
  const auth = req.headers.authorization || '';
  const claims = auth.startsWith('Bearer ') ? bearer(auth.slice(7)) : null;
  if (!claims) {
    answer(res, 401, '{"error":"unauthorized"}');
    return false;
  }
  if (!Array.isArray(claims.roles) || !claims.roles.includes('service')) {
    answer(res, 403, '{"error":"forbidden"}');
    return false;
  }
  return true;
};

const readJson = (req, res, then) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let payload;
    try {
      payload = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      answer(res, 400, '{"error":"bad_request"}');
      return;
    }
    then(payload);
  });
};

const isName = (s) => typeof s === 'string' && s.length > 0 && s.length <= 128;

const batch = (payload) => {
  const results = [];
  for (const item of payload.items) {
    if (item === null || typeof item !== 'object' || !isName(item.event)) {
      results.push({ status: 400, error: 'bad_request', message: 'an item needs user or room, and event' });
    } else if (isName(item.user)) {
      const room = `user:${item.user}`;
      io.to(room).emit('notification', { event: item.event, data: item.data ?? null, ts: Date.now() });
      results.push({ status: 202, delivered: io.of('/').adapter.rooms.get(room)?.size ?? 0 });
    } else if (isName(item.room)) {
      io.to(item.room).emit(item.event, item.data ?? null);
      results.push({ status: 202, room: item.room });
    } else {
      results.push({ status: 400, error: 'bad_request', message: 'an item needs user or room, and event' });
    }
  }
  return results;
};

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'POST' && url.pathname === '/publish') {
    if (url.searchParams.has('room')) { // the fan-out's publish: the whole body is the event, no token
      readJson(req, res, (payload) => {
        io.to(url.searchParams.get('room') || 'r').emit('event', payload);
        answer(res, 202, '{"ok":true}');
      });
      return;
    }
    if (!service(req, res)) return;
    readJson(req, res, (payload) => {
      if (payload === null || typeof payload !== 'object' || !isName(payload.room) || !isName(payload.event)) {
        answer(res, 400, '{"error":"bad_request"}');
        return;
      }
      io.to(payload.room).emit(payload.event, payload.data ?? null);
      answer(res, 202, JSON.stringify({ room: payload.room }));
    });
    return;
  }
  if (req.method === 'POST' && url.pathname === '/batch') {
    if (!service(req, res)) return;
    readJson(req, res, (payload) => {
      if (payload === null || typeof payload !== 'object' || !Array.isArray(payload.items)
          || payload.items.length < 1 || payload.items.length > MAX_BATCH) {
        answer(res, 400, '{"error":"bad_request"}');
        return;
      }
      answer(res, 200, JSON.stringify({ results: batch(payload) }));
    });
    return;
  }
  if (req.method === 'GET' && url.pathname === '/stats') {
    const gc = url.searchParams.get('gc') === '1' && typeof global.gc === 'function';
    if (gc) {
      global.gc();
      global.gc(); // a second pass for what the first one's finalizers let go
    }
    answer(res, 200, JSON.stringify({ gc, sockets: io.engine.clientsCount, ...process.memoryUsage() }));
    return;
  }
  if (req.method === 'GET' && url.pathname === '/health') {
    answer(res, 200, JSON.stringify({ sockets: io.engine.clientsCount }));
    return;
  }
  // everything under /socket.io/ is taken by the Socket.IO server before this handler runs
  res.writeHead(404);
  res.end();
});

const io = new Server(server, { serveClient: false });

// a token, when the client brings one, must be valid: then the socket is that user's
io.use((socket, next) => {
  const token = socket.handshake.auth?.token ?? socket.handshake.query.token;
  if (token === undefined) return next();
  const claims = verify(token);
  if (!claims) return next(new Error('unauthorized'));
  socket.data.user = claims;
  return next();
});

const courseRole = (user, room) => (room.startsWith('course:') && user.courses ? user.courses[room.slice(7)] : undefined);
const teaches = (user, room) => courseRole(user, room) === 'instructor';
const own = (user, room) => room === `user:${user.sub}`;

io.on('connection', (socket) => {
  const user = socket.data.user;
  if (!user) {
    // joined in the same tick the CONNECT packet is written, so any publish that arrives after the
    // client has seen `40{...}` finds it in the room
    const room = socket.handshake.query.room;
    socket.join(typeof room === 'string' && room ? room : 'r');
    return;
  }
  socket.join(`user:${user.sub}`);
  const reply = (ack, value) => { if (typeof ack === 'function') ack(value); };
  socket.on('join', (room, ack) => {
    if (typeof room !== 'string') return reply(ack, { error: 'bad_request' });
    if (!own(user, room) && courseRole(user, room) === undefined) return reply(ack, { error: 'forbidden' });
    socket.join(room);
    return reply(ack, { room });
  });
  socket.on('publish', (msg, ack) => {
    if (msg === null || typeof msg !== 'object' || typeof msg.room !== 'string' || !isName(msg.event)) {
      return reply(ack, { error: 'bad_request' });
    }
    if (!own(user, msg.room) && !teaches(user, msg.room)) return reply(ack, { error: 'forbidden' });
    io.to(msg.room).emit(msg.event, msg.data ?? null);
    return reply(ack, { ok: true });
  });
  socket.on('presence', (msg, ack) => {
    const room = msg?.room;
    if (typeof room !== 'string') return reply(ack, { error: 'bad_request' });
    if (!own(user, room) && !teaches(user, room)) return reply(ack, { error: 'forbidden' });
    const byUser = new Map();
    for (const id of io.of('/').adapter.rooms.get(room) ?? []) {
      const u = io.of('/').sockets.get(id)?.data.user;
      if (!u) continue;
      const entry = byUser.get(u.sub);
      if (entry) entry.connections += 1;
      else byUser.set(u.sub, { userId: u.sub, name: u.name ?? null, role: courseRole(u, room) ?? null, connections: 1 });
    }
    return reply(ack, { room, users: [...byUser.values()] });
  });
});

server.listen(port, '127.0.0.1', () => console.log(`socket.io peer listening on 127.0.0.1:${port}`));

const stop = () => {
  io.close(() => process.exit(0)); // closes every socket and the http server
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// The Socket.IO peer of the fan-out benchmark (bench/run.sh, issue 7): Socket.IO 4.8 with rooms, as an
// application would run it: one process, default settings (no per-message deflate, websocket and
// polling transports both allowed; the driver speaks Engine.IO v4 over WebSocket directly).
//   node server.mjs <port>
// - a client connects to /socket.io/?EIO=4&transport=websocket[&room=r] and joins room `room` (default r);
// - POST /publish?room=r with a JSON body: io.to(room).emit('event', body), the parsed body unchanged
//   (Socket.IO encodes the packet once per broadcast and writes it to every member), answered 202;
// - GET /health: {"sockets": N};
// - GET /stats[?gc=1]: process.memoryUsage() (after global.gc() with gc=1, when node runs with
//   --expose-gc) for the sockets-held scenario: {"gc":true|false,"sockets":N,"rss":..,"heapUsed":..,...}.
import http from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.argv[2] || process.env.PORT || 3000);

const answer = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'POST' && url.pathname === '/publish') {
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
      const room = url.searchParams.get('room') || 'r';
      io.to(room).emit('event', payload);
      answer(res, 202, '{"ok":true}');
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

io.on('connection', (socket) => {
  // joined in the same tick the CONNECT packet is written, so any publish that arrives after the
  // client has seen `40{...}` finds it in the room
  const room = socket.handshake.query.room;
  socket.join(typeof room === 'string' && room ? room : 'r');
});

server.listen(port, '127.0.0.1', () => console.log(`socket.io peer listening on 127.0.0.1:${port}`));

const stop = () => {
  io.close(() => process.exit(0)); // closes every socket and the http server
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

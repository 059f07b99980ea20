// Handshake storm against an lms-realtime node: N sockets opened from zero, K in flight, each a real
// HS256 token check; counts a handshake when its welcome frame arrives.
//   node handshake-storm.mjs <secret> <N> <in-flight> [ws://127.0.0.1:8080/ws]
import WebSocket from 'ws';
import crypto from 'node:crypto';
const [secret, n, inflight, url = 'ws://127.0.0.1:8080/ws'] = [process.argv[2], +process.argv[3], +process.argv[4], process.argv[5]];
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
function token(sub) {
  const h = b64({ alg: 'HS256', typ: 'JWT' }), p = b64({ sub, exp: Math.floor(Date.now() / 1000) + 3600 });
  return h + '.' + p + '.' + crypto.createHmac('sha256', secret).update(h + '.' + p).digest('base64url');
}
const tokens = Array.from({ length: n }, (_, i) => token('storm-' + i));
let next = 0, done = 0, ok = 0;
const socks = [];
const t0 = performance.now();
await new Promise((resolve) => {
  const launch = () => {
    if (next >= n) return;
    const ws = new WebSocket(url + '?token=' + tokens[next++]);
    socks.push(ws);
    const fin = (good) => { if (good) ok++; if (++done === n) resolve(); else launch(); };
    ws.once('message', () => fin(true));
    ws.once('error', () => fin(false));
  };
  for (let i = 0; i < inflight; i++) launch();
});
const s = (performance.now() - t0) / 1000;
console.log(`${ok}/${n} handshakes (to welcome) in ${s.toFixed(2)} s = ${(ok / s).toFixed(0)}/s, ${inflight} in flight`);
socks.forEach((w) => w.terminate());

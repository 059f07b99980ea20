// Holds N idle sockets on an lms-realtime node for S seconds (pinging every 10 s, as a client must),
// to measure memory per idle socket: jcmd PID GC.run; jcmd PID GC.heap_info; grep VmRSS /proc/PID/status
// at 0 and at N sockets.
//   node idle-sockets.mjs <secret> <N> <ws://127.0.0.1:8080/ws> <seconds>
import WebSocket from 'ws';
import crypto from 'node:crypto';
const secret = process.argv[2], n = +process.argv[3], url = process.argv[4];
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const token = (sub) => { const h = b64({alg:'HS256',typ:'JWT'}), p = b64({sub, exp: Math.floor(Date.now()/1000)+3600});
  return h + '.' + p + '.' + crypto.createHmac('sha256', secret).update(h + '.' + p).digest('base64url'); };
let open = 0; const socks = [];
for (let i = 0; i < n; i++) {
  const ws = new WebSocket(url + '?token=' + token('idle-' + i));
  ws.on('message', (m) => { if (String(m).includes('welcome')) { open++; ws.send('{"type":"join","room":"course:1"}'.replace('course:1','user:idle-' + i)); } });
  ws.on('error', () => {});
  socks.push(ws);
  if (i % 64 === 63) await new Promise((r) => setTimeout(r, 20));
}
await new Promise((r) => setTimeout(r, 3000));
console.log('OPEN', open);
setInterval(() => socks.forEach((w) => w.readyState === 1 && w.send('{"type":"ping"}')), 10000);
await new Promise((r) => setTimeout(r, +process.argv[5] * 1000));
socks.forEach((w) => w.terminate()); process.exit(0);

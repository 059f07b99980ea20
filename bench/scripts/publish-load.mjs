// Backend publishes from autocannon into ROOMS rooms (one POST per event), for hand profiles; prints one JSON line.
// usage: node publish-load.mjs PORT ROOMS SECONDS CONNECTIONS [prefix]   (SECRET: the engine's LMS_JWT_SECRET)
import autocannon from 'autocannon';
import crypto from 'node:crypto';
const [port, rooms, seconds, conns, prefix = 'course:p'] = process.argv.slice(2);
const secret = process.env.SECRET || 'bench-secret-bench-secret-bench-secret-0123';
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const h = b64({ alg: 'HS256', typ: 'JWT' });
const p = b64({ sub: 'svc', roles: ['service'], exp: Math.floor(Date.now() / 1000) + 3600, iat: Math.floor(Date.now() / 1000) });
const sig = crypto.createHmac('sha256', secret).update(h + '.' + p).digest('base64url');
const token = `${h}.${p}.${sig}`;
const requests = [];
for (let i = 0; i < Number(rooms); i++) {
  requests.push({ method: 'POST', path: `/api/v1/rooms/${prefix}${i}/events`, body: JSON.stringify({ event: 'progress', data: { pct: i % 100, lesson: 'l-' + i } }) });
}
const r = await autocannon({ url: `http://127.0.0.1:${port}`, connections: Number(conns), duration: Number(seconds),
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, requests });
console.log(JSON.stringify({ rps: r.requests.average, total: r.requests.total, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, p50: r.latency.p50, p99: r.latency.p99 }));

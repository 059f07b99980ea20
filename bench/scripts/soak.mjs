// A memory soak with churn (issue 23): S students, each one socket in its course room (C courses)
// and its own user: room, re-joined with `since` on every connect as the JS client does; pings every
// 20 s; R reconnects a second (a random student's socket closed, alternately with a close frame and
// by dropping TCP, and opened again) for CHURN seconds with a light publish load through the backend
// API (events into the course rooms, notifications to students), then IDLE seconds of heartbeats
// only. At the start (after the connect and a warm-up), after the churn and after the idle period
// it forces a GC in the engine and notes the heap (jcmd GC.run, GC.heap_info) and RSS, and keeps a
// class histogram (jmap -histo:live); at the end it prints what grew. Figures, never a failure.
//
//   node soak.mjs --url http://127.0.0.1:18090 --secret SECRET --pid ENGINE_PID [--out DIR]
//     [--students 1500] [--courses 30] [--warmup 30] [--churn 240] [--idle 240] [--reconnects 20]
//     [--events 4] [--notifications 0.5] [--after-close 45] [--new-users 0]
// --new-users P: a reconnect is, with probability P, a new student taking the seat (a new user id,
// so a new user: room and user entity; the old ones go idle), for what rooms ever started leave.
// The engine must allow the sockets from one address: LMS_MAX_CONNECTIONS_PER_IP=20000 (soak.sh
// starts it so).
import WebSocket from 'ws';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const num = (k, d) => (args[k] === undefined ? d : Number(args[k]));
const base = args.url, secret = args.secret, pid = args.pid;
if (!base || !secret || !pid) {
  console.error('usage: node soak.mjs --url http://127.0.0.1:PORT --secret SECRET --pid ENGINE_PID [--out DIR] [options]');
  process.exit(2);
}
const STUDENTS = num('students', 1500), COURSES = num('courses', 30), WARMUP = num('warmup', 30);
const CHURN = num('churn', 240), IDLE = num('idle', 240), RECONNECTS = num('reconnects', 20);
const NEW_USERS = num('new-users', 0);
const EVENTS = num('events', 4), NOTIFICATIONS = num('notifications', 0.5), AFTER_CLOSE = num('after-close', 45);
const out = args.out || fs.mkdtempSync('/tmp/soak-');
fs.mkdirSync(out, { recursive: true });
const wsUrl = base.replace(/^http/, 'ws') + '/ws';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log(new Date().toISOString().slice(11, 19), ...a);

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
function token(claims) {
  const h = b64({ alg: 'HS256', typ: 'JWT' });
  const p = b64({ exp: Math.floor(Date.now() / 1000) + 6 * 3600, ...claims });
  return h + '.' + p + '.' + crypto.createHmac('sha256', secret).update(h + '.' + p).digest('base64url');
}
const service = 'Bearer ' + token({ sub: 'soak-backend', roles: ['service'] });

const counts = { opened: 0, welcomed: 0, closes: 0, recovered: 0, notRecovered: 0, events: 0, notifications: 0,
  published: 0, publishFailed: 0, errors: 0, newUsers: 0 };

/** A student: one socket at a time, and where it stands in its two rooms (for `since`). */
class Student {
  constructor(i) {
    this.i = i;
    this.generation = 0;
    this.course = 'course:soak-' + (i % COURSES);
    this.at = new Map(); // room -> {epoch, seq}
    this.ws = null;
    this.ready = false;
    this.become(0);
  }

  /** Takes the identity of generation g of this seat: a new user id (and so a new user: room) for g > 0. */
  become(g) {
    this.generation = g;
    this.id = 'soak-' + this.i + (g > 0 ? '-' + g : '');
    if (this.inbox) this.at.delete(this.inbox);
    this.inbox = 'user:' + this.id;
    this.url = wsUrl + '?token=' + token({ sub: this.id, courses: { ['soak-' + (this.i % COURSES)]: 'student' } });
  }

  open() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    this.ready = false;
    counts.opened++;
    ws.on('message', (m) => this.onFrame(ws, String(m)));
    ws.on('error', () => { counts.errors++; });
    ws.on('close', () => { if (this.ws === ws) this.ws = null; });
  }

  join(ws, room) {
    const since = this.at.get(room);
    ws.send(JSON.stringify(since ? { type: 'join', room, since } : { type: 'join', room }));
  }

  onFrame(ws, text) {
    const f = JSON.parse(text);
    switch (f.type) {
      case 'welcome':
        counts.welcomed++;
        this.join(ws, this.inbox);
        this.join(ws, this.course);
        break;
      case 'joined':
        if (f.recovered === true) counts.recovered++;
        if (f.recovered === false) counts.notRecovered++;
        this.at.set(f.room, { epoch: f.epoch, seq: f.seq });
        if (f.room === this.course) this.ready = true;
        break;
      case 'event':
      case 'notification':
        if (f.type === 'event') counts.events++; else counts.notifications++;
        if (typeof f.seq === 'number') this.at.set(f.room || this.inbox, { epoch: f.epoch, seq: f.seq });
        break;
      default:
        break;
    }
  }

  /** Closes this student's socket (with a close frame, or by dropping TCP) and opens another. */
  reconnect(abrupt, newUser) {
    const ws = this.ws;
    if (ws) {
      counts.closes++;
      if (abrupt) ws.terminate(); else ws.close(1000);
    }
    if (newUser) {
      counts.newUsers++;
      this.become(this.generation + 1);
    }
    this.open();
  }
}

const students = Array.from({ length: STUDENTS }, (_, i) => new Student(i));

function heartbeat() {
  for (const s of students) if (s.ws && s.ws.readyState === WebSocket.OPEN) s.ws.send('{"type":"ping"}');
}

async function post(pathname, body) {
  try {
    const r = await fetch(base + pathname, { method: 'POST', headers: { authorization: service, 'content-type': 'application/json' },
      body: JSON.stringify(body) });
    await r.arrayBuffer();
    if (r.status === 202) counts.published++; else counts.publishFailed++;
  } catch {
    counts.publishFailed++;
  }
}

let published = 0;
function publishSome(dtMs) {
  const events = EVENTS * dtMs / 1000, notes = NOTIFICATIONS * dtMs / 1000;
  for (let k = 0; k < Math.floor(events) + (Math.random() < events % 1 ? 1 : 0); k++) {
    const c = Math.floor(Math.random() * COURSES);
    post('/api/v1/rooms/' + encodeURIComponent('course:soak-' + c) + '/events',
      { event: 'announcement', data: { n: ++published, text: 'soak announcement ' + published } });
  }
  for (let k = 0; k < Math.floor(notes) + (Math.random() < notes % 1 ? 1 : 0); k++) {
    const s = students[Math.floor(Math.random() * STUDENTS)];
    post('/api/v1/users/' + encodeURIComponent(s.id) + '/notifications',
      { event: 'grade.posted', data: { n: ++published, grade: 'B+' } });
  }
}

function heapUsedKb() {
  execFileSync('jcmd', [pid, 'GC.run']);
  const info = execFileSync('jcmd', [pid, 'GC.heap_info']).toString();
  const m = info.match(/used (\d+)K/);
  return m ? Number(m[1]) : NaN;
}

function rssKb() {
  const m = fs.readFileSync('/proc/' + pid + '/status', 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) : NaN;
}

function cpuTicks() {
  const f = fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
}

function histogram(name) {
  const text = execFileSync('jmap', ['-histo:live', pid], { maxBuffer: 64 << 20 }).toString();
  fs.writeFileSync(path.join(out, 'histo-' + name + '.txt'), text);
  const classes = new Map();
  for (const line of text.split('\n')) {
    const m = line.match(/^\s*\d+:\s+(\d+)\s+(\d+)\s+(\S+)/);
    if (m) classes.set(m[3], { n: Number(m[1]), bytes: Number(m[2]) });
  }
  return classes;
}

/** The engine's gauges that say what it holds (rooms, users, sockets). */
async function gauges() {
  try {
    const text = await (await fetch(base + '/metrics')).text();
    const g = {};
    for (const m of text.matchAll(/^(lms_(?:sockets_open|rooms_active|users_online|journal_rows_total|journal_commits_total))\S* (\S+)$/gm)) {
      g[m[1]] = Number(m[2]);
    }
    return g;
  } catch {
    return {};
  }
}

const marks = [];
async function mark(name, withHistogram) {
  const engine = await gauges();
  const heap = heapUsedKb();
  const classes = withHistogram ? histogram(name) : null;
  const row = { mark: name, at_s: Math.round((Date.now() - t0) / 1000), heap_used_kb: heap, rss_kb: rssKb(),
    cpu_s: (cpuTicks() - cpu0) / 100, open: students.filter((s) => s.ws && s.ws.readyState === WebSocket.OPEN).length,
    ...counts, ...engine };
  marks.push(row);
  log('MARK', JSON.stringify(row));
  return classes;
}

function diff(a, b, top = 30) {
  const rows = [];
  for (const [name, after] of b) {
    const before = a.get(name) || { n: 0, bytes: 0 };
    rows.push({ name, dn: after.n - before.n, dbytes: after.bytes - before.bytes });
  }
  for (const [name, before] of a) if (!b.has(name)) rows.push({ name, dn: -before.n, dbytes: -before.bytes });
  rows.sort((x, y) => y.dbytes - x.dbytes);
  return rows.slice(0, top);
}

async function openAll() {
  for (let i = 0; i < students.length; i++) {
    students[i].open();
    if (i % 50 === 49) await sleep(100);
  }
  for (let waited = 0; students.some((s) => !s.ready) && waited < 60_000; waited += 200) await sleep(200);
  log('connected', students.filter((s) => s.ready).length, 'of', students.length);
}

async function phase(seconds, reconnectsPerSecond, publishing) {
  const tickMs = 50, end = Date.now() + seconds * 1000;
  let owed = 0, abrupt = false;
  while (Date.now() < end) {
    await sleep(tickMs);
    if (publishing) publishSome(tickMs);
    owed += reconnectsPerSecond * tickMs / 1000;
    for (; owed >= 1; owed--) {
      abrupt = !abrupt;
      students[Math.floor(Math.random() * students.length)].reconnect(abrupt, Math.random() < NEW_USERS);
    }
  }
}

const t0 = Date.now();
const cpu0 = cpuTicks();
log('soak', JSON.stringify({ STUDENTS, COURSES, WARMUP, CHURN, IDLE, RECONNECTS, NEW_USERS, EVENTS, NOTIFICATIONS, out }));
const fresh = await mark('fresh', true);
const beat = setInterval(heartbeat, 20_000);
await openAll();
await phase(WARMUP, 0, true);
const start = await mark('start', true);
await phase(CHURN, RECONNECTS, true);
await mark('churned', false);
await phase(IDLE, 0, false);
const end = await mark('idle', true);
clearInterval(beat);
for (const s of students) if (s.ws) s.ws.close(1000);
let closed = null;
if (AFTER_CLOSE > 0) {
  await sleep(AFTER_CLOSE * 1000);
  closed = await mark('closed', true);
}

const grew = diff(start, end);
const left = closed ? diff(fresh, closed) : [];
const table = (rows) => rows.map((r) => `${String(r.dbytes).padStart(10)} ${String(r.dn).padStart(8)}  ${r.name}`).join('\n') + '\n';
fs.writeFileSync(path.join(out, 'marks.json'), JSON.stringify(marks, null, 1));
fs.writeFileSync(path.join(out, 'histo-diff.txt'), table(diff(start, end, 200)));
if (closed) fs.writeFileSync(path.join(out, 'histo-diff-closed.txt'), table(diff(fresh, closed, 200)));
const kb = (k) => (k / 1024).toFixed(1) + ' MB';
const first = marks.find((m) => m.mark === 'start'), last = marks.find((m) => m.mark === 'idle');
log('heap after a forced GC: start', kb(first.heap_used_kb), '-> churned', kb(marks.find((m) => m.mark === 'churned').heap_used_kb),
  '-> idle', kb(last.heap_used_kb), `(${((last.heap_used_kb - first.heap_used_kb) / 1024).toFixed(1)} MB);`,
  'reconnects', counts.closes, 'of', counts.opened, 'opened');
if (closed) {
  log('heap after a forced GC with no socket: fresh', kb(marks[0].heap_used_kb), '-> every socket closed', AFTER_CLOSE, 's',
    kb(marks.at(-1).heap_used_kb), `(${((marks.at(-1).heap_used_kb - marks[0].heap_used_kb) / 1024).toFixed(1)} MB)`);
}
log('grew most between start and idle (bytes, instances, class):');
process.stdout.write(table(grew.slice(0, 20)));
if (closed) {
  log('left between fresh and closed (bytes, instances, class):');
  process.stdout.write(table(left.slice(0, 25)));
}
log('files in', out);
process.exit(0);

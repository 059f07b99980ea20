// The live classroom demo: the engine's browser client driving a small class.
// Plain ES module; the engine serves the client at /sdk/lms-realtime.js and this page in --demo mode.
import { RealtimeClient } from '/sdk/lms-realtime.js';

const LESSON_STEPS = ['Watch the intro', 'Read the notes', 'Try the exercise', 'Take the quiz', 'Reflect'];
const STEP_PERCENT = 100 / LESSON_STEPS.length;
const TOKEN_REUSE_MS = 5000; // one /demo/token fetch serves the reconnect and the re-join right after it
const ROSTER_REFRESH_MS = 4000; // a second tab of someone present sends no presence_diff: count tabs again this often
const RECENT_COURSE = 20; // announcements shown on open, from GET /api/v1/rooms/{room}/events
const RECENT_LIVE = 100; // chat lines and hands
const RECENT_USER = 100; // the own room: the last progress and hand

const $ = (id) => document.getElementById(id);

/** Names this page knows, by user id: the presets, then whoever presence reveals. */
const names = new Map([['ada', 'Ada'], ['grace', 'Grace'], ['linus', 'Linus'], ['turing', 'Prof. Turing'], ['backend', 'Platform']]);

let session = null; // { me, client, course, live, user, ... } while someone is signed in

// ------------------------------------------------------------------ sign in and out

function identityFromUrl() {
  const q = new URLSearchParams(location.search);
  const as = q.get('as');
  if (as) {
    const b = $('login-' + as);
    if (b) return fromButton(b);
  }
  const user = q.get('user');
  if (user) {
    const role = q.get('role') === 'instructor' ? 'instructor' : 'student';
    return { userId: user, name: q.get('name') || user, role };
  }
  return null;
}

function fromButton(b) {
  return { userId: b.dataset.user, name: b.dataset.name, role: b.dataset.role };
}

function slug(name) {
  const s = name.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 24);
  return s || 'guest-' + Math.random().toString(36).slice(2, 7);
}

/** ?ttl=30 in the page's address: 30-second tokens, to watch the client refresh them on the open socket. */
const TOKEN_TTL = new URLSearchParams(location.search).get('ttl');

async function fetchTokens(me) {
  const q = new URLSearchParams({ user: me.userId, name: me.name, role: me.role });
  if (TOKEN_TTL) q.set('ttl', TOKEN_TTL);
  const res = await fetch('/demo/token?' + q, { cache: 'no-store' });
  if (!res.ok) throw new Error('/demo/token answered ' + res.status + ' (is the engine running with --demo?)');
  return res.json();
}

/** Tokens for the socket and the live room; fetched again when older than a few seconds. */
function tokenSource(me, first) {
  let current = first;
  let fetchedAt = Date.now();
  let inflight = null;
  return async () => {
    if (Date.now() - fetchedAt < TOKEN_REUSE_MS) return current;
    inflight ??= fetchTokens(me).then((t) => { current = t; fetchedAt = Date.now(); return t; }).finally(() => { inflight = null; });
    return inflight;
  };
}

async function signIn(me) {
  const error = $('login-error');
  error.hidden = true;
  setBusy(true);
  let tokens;
  try {
    tokens = await fetchTokens(me);
  } catch (err) {
    error.textContent = 'Could not get a demo token: ' + err.message;
    error.hidden = false;
    setBusy(false);
    return;
  }
  setBusy(false);
  me = { userId: tokens.userId || me.userId, name: tokens.name || me.name, role: tokens.role || me.role };
  names.set(me.userId, me.name);
  const q = new URLSearchParams({ user: me.userId, name: me.name, role: me.role });
  if (TOKEN_TTL) q.set('ttl', TOKEN_TTL);
  history.replaceState(null, '', '?' + q);
  $('open-twin').href = '?' + q;
  start(me, tokens);
}

function setBusy(busy) {
  for (const b of document.querySelectorAll('#login button')) b.disabled = busy;
}

function signOut() {
  if (session) {
    session.client.close();
    clearInterval(session.rosterTimer);
  }
  clearTimeout(rosterRefresh);
  session = null;
  history.replaceState(null, '', location.pathname);
  $('app').hidden = true;
  $('session').hidden = true;
  $('login').hidden = false;
  clearList($('feed'), 'No announcements yet.', 'feed-empty');
  clearList($('chat-log'), 'Say hello to the class.', 'chat-empty');
  $('roster').replaceChildren();
  $('log').replaceChildren();
}

// ------------------------------------------------------------------ the classroom

function start(me, tokens) {
  const fresh = tokenSource(me, tokens);
  const client = new RealtimeClient({ url: socketUrl(tokens.wsUrl), token: async () => (await fresh()).token });
  const courseRoom = tokens.courseRoom || 'course:demo-101';
  const liveRoom = tokens.liveRoom || 'live:demo-class';
  const userRoom = 'user:' + me.userId;
  session = { me, client, courseRoom, liveRoom, userRoom, hands: new Map(), roster: new Map(), shown: new Set(), rosterTimer: null, latest: new Map() };

  $('login').hidden = true;
  $('app').hidden = false;
  $('session').hidden = false;
  $('app').dataset.role = me.role;
  $('whoami').textContent = me.name + ' · ' + me.role;
  $('course-room').textContent = courseRoom;
  $('live-room').textContent = liveRoom;
  $('user-room').textContent = userRoom;
  $('roster-panel').hidden = me.role !== 'instructor';
  $('progress-panel').hidden = me.role !== 'student';
  $('hand-row').hidden = me.role !== 'student';
  $('announce-form').hidden = me.role !== 'instructor';
  $('announce-by-instructors').hidden = me.role === 'instructor';
  setHand(false);

  client.on('state', (s) => {
    showState(s);
    log('state: ' + s + (s === 'connecting' && client.reconnectAttempts ? ' (attempt ' + client.reconnectAttempts + ')' : ''));
  });
  // Why the socket ended (close code, the engine's retryAfterMs advice) and when the client comes back.
  client.on('disconnected', (d) => log(d.message + (d.reconnectInMs === null ? '' : '; next attempt in '
    + (d.reconnectInMs / 1000).toFixed(1) + ' s')));
  client.on('welcome', (w) => log('welcome: connection ' + w.connectionId + ' over ' + client.transport + ', heartbeat ' + w.heartbeatSeconds + ' s'));
  // A proxy that refuses WebSockets (or buffers the stream): the client moves on to the HTTP fallback by itself.
  client.on('fallback', (f) => log(f.from + ' did not get through (' + f.message + '): trying ' + f.to));
  client.on('refreshed', (r) => log('token refreshed on the open socket: now valid until ' + time(r.exp * 1000)));
  client.on('error', (e) => log('error ' + e.code + ': ' + e.message, 'error'));
  client.on('notification', (n) => toast((n.data && n.data.text) || n.event, 'notification'));

  // A page that opens (or reloads) joins without the events before it: they come from the backend
  // API (GET /api/v1/rooms/{room}/events), on the first join and after any join that could not recover.
  session.course = client.join(courseRoom, {
    onEvent: addFeedItem,
    onJoined: recentOnJoin(courseRoom, RECENT_COURSE, addFeedItem),
    onReset: () => addNotice($('feed'), 'Some events were lost while offline; the feed continues from here.'),
  });
  session.course.ready.then(() => log('joined ' + courseRoom), (e) => log('could not join ' + courseRoom + ': ' + e.message, 'error'));

  session.live = client.join(liveRoom, {
    token: async () => (await fresh()).liveToken,
    onEvent: onLiveEvent,
    onPresence: onPresenceDiff,
    onJoined: recentOnJoin(liveRoom, RECENT_LIVE, onLiveEvent, () => { if (me.role === 'instructor') refreshRoster(); }),
  });
  session.live.ready.then(() => log('joined ' + liveRoom), (e) => log('could not join ' + liveRoom + ': ' + e.message, 'error'));

  if (me.role === 'instructor') {
    session.rosterTimer = setInterval(() => { if (session && session.client.state === 'connected') refreshRoster(); }, ROSTER_REFRESH_MS);
  }

  if (me.role === 'student') {
    setProgress(storedProgress(me.userId));
    session.user = client.join(userRoom, { onEvent: onUserEvent, onJoined: recentOnJoin(userRoom, RECENT_USER, onUserEvent) });
    session.user.ready.then(() => log('joined ' + userRoom), (e) => log('could not join ' + userRoom + ': ' + e.message, 'error'));
  }
}

/** The socket goes to the engine that served this page (also right behind a proxy); the server's wsUrl otherwise. */
function socketUrl(wsUrl) {
  if (location.protocol === 'http:' || location.protocol === 'https:') {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  }
  return wsUrl;
}

/**
 * An onJoined handler that shows the room's recent events once joined: on the first join, and on a
 * re-join that could not recover (the room lost its history). The handlers see each event once
 * however it comes (recent, missed or live): they skip what they showed.
 */
function recentOnJoin(room, limit, show, then) {
  let first = true;
  return (joined) => {
    if (then) then(joined);
    if (!first && joined.recovered) return;
    first = false;
    loadRecent(room, limit, show);
  };
}

async function loadRecent(room, limit, show) {
  try {
    const res = await backend('GET', '/api/v1/rooms/' + pathRoom(room) + '/events?limit=' + limit);
    if (!res.ok) throw new Error(res.status + ' ' + ((await res.json().catch(() => ({}))).message || ''));
    const body = await res.json();
    const events = body.events.filter((e) => e.type === 'event');
    for (const e of events) show(e);
    log('recent events of ' + room + ': ' + events.length);
  } catch (err) {
    log('recent events of ' + room + ' not read: ' + err.message, 'error');
  }
}

function showState(s) {
  const el = $('state');
  el.textContent = s;
  el.dataset.state = s;
  el.title = s === 'disconnected' ? 'reconnecting by itself…' : '';
  el.closest('.conn').dataset.state = s;
  document.body.dataset.state = s;
}

// ------------------------------------------------------------------ course feed (course:demo-101)

function addFeedItem(e) {
  const feed = $('feed');
  const same = [...feed.querySelectorAll('.feed-item')].filter((c) => c.dataset.epoch === e.epoch);
  if (same.some((c) => Number(c.dataset.seq) === e.seq)) return; // shown already (recent, missed or live)
  feed.querySelector('.empty')?.remove();
  const li = document.createElement('li');
  li.className = 'feed-item';
  li.setAttribute('data-testid', 'feed-item');
  li.dataset.seq = String(e.seq);
  li.dataset.epoch = e.epoch;
  li.dataset.event = e.event;
  const by = e.data && typeof e.data.by === 'string' ? e.data.by : null;
  const meta = el('span', 'meta');
  if (by) meta.append(document.createTextNode('posted by '), el('span', 'by', by), document.createTextNode(' through the platform'));
  else meta.append(document.createTextNode('from ' + nameOf(e.from)));
  meta.append(document.createTextNode(' · ' + time(e.ts)));
  li.append(el('span', 'seq', '#' + e.seq), el('span', 'event-name', e.event), el('span', 'text', describe(e.data)), meta);
  // Newest first: before the first older event of its epoch; a new epoch's events go on top.
  const older = same.find((c) => Number(c.dataset.seq) < e.seq);
  if (older) feed.insertBefore(li, older);
  else if (same.length) same[same.length - 1].after(li);
  else feed.prepend(li);
}

async function postAnnouncement(text) {
  const status = $('announce-status');
  status.textContent = 'Posting…';
  status.className = 'status';
  const room = session.courseRoom;
  try {
    const res = await backend('POST', '/api/v1/rooms/' + pathRoom(room) + '/events',
      { event: 'announcement', data: { text, by: session.me.name } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(res.status + ' ' + (body.message || body.error || ''));
    status.textContent = res.status + ' accepted as seq ' + body.seq + '; the socket delivers it to every member.';
    status.className = 'status ok';
    $('announce-input').value = '';
  } catch (err) {
    status.textContent = 'Failed: ' + err.message;
    status.className = 'status bad';
  }
}

async function notifyMe() {
  try {
    const res = await backend('POST', '/api/v1/users/' + encodeURIComponent(session.me.userId) + '/notifications',
      { event: 'reminder', data: { text: 'Reminder from the platform: the quiz closes at 17:00.' } });
    const body = await res.json().catch(() => ({}));
    log('notification sent: ' + res.status + (body.delivered !== undefined ? ', reached ' + body.delivered + ' connection(s)' : ''));
  } catch (err) {
    log('notification failed: ' + err.message, 'error');
  }
}

let serviceToken = null;

/** A call to the backend API of §6, as the platform's server would make it. */
async function backend(method, path, body) {
  for (let attempt = 0; attempt < 2; attempt++) {
    if (!serviceToken) {
      const res = await fetch('/demo/service-token', { cache: 'no-store' });
      if (!res.ok) throw new Error('/demo/service-token answered ' + res.status);
      serviceToken = (await res.json()).token;
    }
    const res = await fetch(path, {
      method,
      headers: { 'Authorization': 'Bearer ' + serviceToken, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status !== 401 || attempt === 1) return res;
    serviceToken = null; // expired: mint another and try once more
  }
  throw new Error('unreachable');
}

/** Room names go into the path as they are; ':' is fine in a path segment. */
function pathRoom(room) {
  return encodeURIComponent(room).replace(/%3A/gi, ':');
}

// ------------------------------------------------------------------ live classroom (live:demo-class)

function onLiveEvent(e) {
  if (e.event === 'chat') showChat(e.epoch, e.seq, e.from, e.data && e.data.text, e.ts);
  else if (e.event === 'hand_raised' || e.event === 'hand_lowered') showHand(e.epoch, e.seq, e.from, e.event === 'hand_raised');
}

async function sendChat(text) {
  try {
    const ack = await session.live.publish('chat', { text });
    // The engine normally echoes the event to the sender too; the ack covers it if not.
    showChat(session.live.epoch, ack.seq, session.me.userId, text, Date.now());
    $('chat-input').value = '';
  } catch (err) {
    liveStatus('Not sent: ' + (err.message || err.code));
  }
}

function showChat(epoch, seq, from, text, ts) {
  if (!firstTime(epoch, seq)) return;
  const log = $('chat-log');
  log.querySelector('.empty')?.remove();
  const li = document.createElement('li');
  li.setAttribute('data-testid', 'chat-message');
  li.dataset.seq = String(seq);
  li.dataset.from = from;
  if (from === session.me.userId) li.classList.add('mine');
  li.append(el('span', 'who', nameOf(from)), el('span', 'text', String(text ?? '')), el('span', 'meta', time(ts)));
  insertBySeq(log, li, seq);
}

async function toggleHand() {
  const up = $('hand-button').getAttribute('aria-pressed') !== 'true';
  const button = $('hand-button');
  button.disabled = true;
  try {
    const ack = await session.live.publish(up ? 'hand_raised' : 'hand_lowered', {});
    showHand(session.live.epoch, ack.seq, session.me.userId, up);
    // The own room keeps it too: every tab of this student, and one opened later, shows the same hand
    // (the live room keeps its events for 10 minutes only).
    session.user?.publish('hand', { up }).catch((err) => log('hand not kept for your other tabs: ' + (err.message || err.code), 'error'));
  } catch (err) {
    liveStatus('Could not ' + (up ? 'raise' : 'lower') + ' your hand: ' + (err.message || err.code));
  } finally {
    button.disabled = false;
  }
}

function showHand(epoch, seq, from, up) {
  if (!firstTime(epoch, seq)) return;
  if (isLatest('hand:' + from, epoch, seq)) { // recent events may come after a newer live one
    session.hands.set(from, up);
    if (from === session.me.userId) setHand(up);
  }
  const log = $('chat-log');
  log.querySelector('.empty')?.remove();
  const li = document.createElement('li');
  li.className = 'system';
  li.setAttribute('data-testid', 'hand-notice');
  li.dataset.seq = String(seq);
  li.textContent = nameOf(from) + (up ? ' raised a hand' : ' lowered their hand');
  if (up) li.append(handIcon());
  insertBySeq(log, li, seq);
  renderRoster();
}

function setHand(up) {
  const b = $('hand-button');
  b.setAttribute('aria-pressed', String(up));
  b.replaceChildren(handIcon(), el('span', 'label', up ? 'Lower hand' : 'Raise hand'));
}

/** The raised-hand icon: inline SVG from the page's template (no emoji font needed). */
function handIcon() {
  return document.getElementById('hand-icon').content.firstElementChild.cloneNode(true);
}

function liveStatus(text) {
  const s = $('live-status');
  s.textContent = text;
  clearTimeout(liveStatus.timer);
  liveStatus.timer = setTimeout(() => { s.textContent = ''; }, 5000);
}

/**
 * Whether this event is the newest seen for a piece of state (a hand, the progress): a state follows
 * its newest event only, whichever order the live, missed and recent ones arrive in.
 */
function isLatest(key, epoch, seq) {
  const last = session.latest.get(key);
  if (last && last.epoch === epoch && last.seq >= seq) return false;
  session.latest.set(key, { epoch, seq });
  return true;
}

/** Live events show once, whether they come as the echo, through the publisher's ack or as recent events. */
function firstTime(epoch, seq) {
  const key = epoch + ':' + seq;
  if (session.shown.has(key)) return false;
  session.shown.add(key);
  return true;
}

// ------------------------------------------------------------------ roster (instructors)

async function refreshRoster() {
  try {
    const users = await session.live.presence();
    session.roster = new Map(users.map((u) => [u.userId, u]));
    for (const u of users) if (u.name) names.set(u.userId, u.name);
    renderRoster();
  } catch (err) {
    log('presence failed: ' + (err.message || err.code), 'error');
  }
}

let rosterRefresh = null;

function onPresenceDiff(diff) {
  if (!session || session.me.role !== 'instructor') return;
  for (const u of diff.joined || []) {
    session.roster.set(u.userId, u);
    if (u.name) names.set(u.userId, u.name);
  }
  for (const id of diff.left || []) {
    session.roster.delete(id);
    session.hands.delete(id);
  }
  renderRoster();
  // A diff can cross a presence answer in flight: settle on the full list shortly after.
  clearTimeout(rosterRefresh);
  rosterRefresh = setTimeout(refreshRoster, 500);
}

function renderRoster() {
  if (!session || session.me.role !== 'instructor') return;
  const users = [...session.roster.values()].sort((a, b) =>
    (a.role === 'instructor' ? 0 : 1) - (b.role === 'instructor' ? 0 : 1) || nameOf(a.userId).localeCompare(nameOf(b.userId)));
  const items = users.map((u) => {
    const up = session.hands.get(u.userId) === true;
    const li = document.createElement('li');
    li.setAttribute('data-testid', 'roster-item');
    li.dataset.userId = u.userId;
    li.dataset.role = u.role || '';
    li.dataset.hand = up ? 'up' : 'down';
    if (up) li.classList.add('hand-up');
    li.append(
      el('span', 'avatar', nameOf(u.userId).replace(/^Prof\.\s*/, '').charAt(0).toUpperCase()),
      el('span', 'who', nameOf(u.userId) + (u.userId === session.me.userId ? ' (you)' : '')),
      el('span', 'role', u.role || ''),
      el('span', 'conns', u.connections > 1 ? u.connections + ' tabs' : ''),
      el('span', 'hand-flag'),
    );
    if (up) li.lastChild.append(handIcon());
    return li;
  });
  $('roster').replaceChildren(...items);
  $('roster-count').textContent = String(users.length);
  $('hands-count').textContent = String(users.filter((u) => session.hands.get(u.userId) === true).length);
}

// ------------------------------------------------------------------ lesson progress (user:{me})

function onUserEvent(e) {
  if (e.event === 'hand' && e.data && typeof e.data.up === 'boolean' && isLatest('own-hand', e.epoch, e.seq)) setHand(e.data.up);
  if (e.event === 'progress' && e.data && Number.isFinite(Number(e.data.percent)) && isLatest('progress', e.epoch, e.seq)) {
    setProgress(Number(e.data.percent));
    try { localStorage.setItem('lms-demo-progress:' + session.me.userId, String(e.data.percent)); } catch { /* private mode */ }
  }
}

function storedProgress(userId) {
  try {
    const v = Number(localStorage.getItem('lms-demo-progress:' + userId));
    return Number.isFinite(v) ? v : 0;
  } catch {
    return 0;
  }
}

function setProgress(percent) {
  const p = Math.max(0, Math.min(100, Math.round(percent)));
  const bar = $('progress-bar');
  bar.setAttribute('aria-valuenow', String(p));
  bar.dataset.value = String(p);
  $('progress-fill').style.width = p + '%';
  $('progress-value').textContent = String(p);
  $('progress-step').disabled = p >= 100;
  $('progress-step').textContent = p >= 100 ? 'Lesson complete' : 'Complete a step';
  const done = Math.round(p / STEP_PERCENT);
  $('lesson-steps').replaceChildren(...LESSON_STEPS.map((s, i) => {
    const li = el('li', i < done ? 'done' : '', s);
    li.setAttribute('data-testid', 'lesson-step');
    return li;
  }));
}

async function publishProgress(percent) {
  try {
    await session.user.publish('progress', { percent });
  } catch (err) {
    log('progress not saved: ' + (err.message || err.code), 'error');
  }
}

// ------------------------------------------------------------------ little helpers

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function nameOf(userId) {
  return names.get(userId) || userId;
}

function describe(data) {
  if (data && typeof data === 'object' && typeof data.text === 'string') return data.text;
  return data === null || data === undefined ? '' : JSON.stringify(data);
}

function time(ts) {
  return new Date(ts || Date.now()).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function insertBySeq(list, li, seq) {
  const later = [...list.children].find((c) => Number(c.dataset.seq) > seq);
  list.insertBefore(li, later || null);
  list.scrollTop = list.scrollHeight;
}

function addNotice(list, text) {
  const li = el('li', 'notice', text);
  li.setAttribute('data-testid', 'reset-notice');
  list.prepend(li);
}

function clearList(list, emptyText, testid) {
  const li = el('li', 'empty', emptyText);
  li.setAttribute('data-testid', testid);
  list.replaceChildren(li);
}

function log(text, kind) {
  const li = el('li', kind || '', time(Date.now()) + '  ' + text);
  const list = $('log');
  list.append(li);
  while (list.children.length > 200) list.firstChild.remove();
}

function toast(text, kind) {
  const t = el('div', 'toast ' + (kind || ''), text);
  t.setAttribute('data-testid', 'toast');
  t.setAttribute('role', 'status');
  $('toasts').append(t);
  setTimeout(() => t.classList.add('leaving'), 5000);
  setTimeout(() => t.remove(), 5600);
}

// ------------------------------------------------------------------ wiring

for (const b of document.querySelectorAll('#login .preset')) {
  b.addEventListener('click', () => signIn(fromButton(b)));
}

$('custom-login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('custom-name').value.trim();
  if (!name) return;
  signIn({ userId: slug(name), name, role: $('custom-role').value });
});

$('logout').addEventListener('click', signOut);

$('announce-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('announce-input').value.trim();
  if (text) postAnnouncement(text);
});

$('notify-me').addEventListener('click', notifyMe);

$('chat-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('chat-input').value.trim();
  if (text) sendChat(text);
});

$('hand-button').addEventListener('click', toggleHand);

$('progress-step').addEventListener('click', () => {
  const now = Number($('progress-bar').getAttribute('aria-valuenow')) || 0;
  publishProgress(Math.min(100, Math.round(now + STEP_PERCENT)));
});

$('progress-reset').addEventListener('click', () => publishProgress(0));

document.querySelector('#roster-panel .hand-slot').append(handIcon());

const initial = identityFromUrl();
if (initial) signIn(initial);

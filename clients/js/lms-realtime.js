/**
 * lms-realtime browser client (wire contract version 1, and the inbox of version 1.1).
 *
 * One ES module, no dependencies, no build step. Works in browsers and, given a WebSocket class
 * through the `WebSocket` option (for instance the `ws` package), in Node.
 *
 * @example
 * import { RealtimeClient } from '/sdk/lms-realtime.js';
 * const client = new RealtimeClient({ url: 'wss://host/ws', token: () => fetchToken() });
 * const room = client.join('course:42', { onEvent: (e) => console.log(e.event, e.data) });
 * await room.ready;
 * await room.publish('hand_raised', {});
 *
 * @module lms-realtime
 */

const DEFAULT_HEARTBEAT_SECONDS = 25;
const DEFAULT_INITIAL_BACKOFF_MS = 500;
const DEFAULT_MAX_BACKOFF_MS = 20000;
/** A connection that got `welcome` and stayed up this long resets the backoff. */
const DEFAULT_RESET_AFTER_MS = 2000;
/** A socket that has not delivered `welcome` within this time is given up and retried. */
const DEFAULT_CONNECT_TIMEOUT_MS = 15000;
/**
 * When a page becomes visible again after more than one heartbeat interval without a frame from the
 * engine, a ping goes out at once; no frame back within this time (at most one interval): dropped.
 */
const VISIBLE_PROBE_MS = 5000;
/** Heartbeat timers are never shorter than this (a socket that cannot send must not spin them). */
const MIN_HEARTBEAT_DELAY_MS = 20;
/** Nor is the timer of the join pacing. */
const MIN_PACING_DELAY_MS = 20;
/** Requests waiting for their room to be joined, per room; more are refused at once. */
const MAX_QUEUED_PER_ROOM = 100;
/** Error codes after which re-joining a room would fail again: the room is given up. */
const PERMANENT_JOIN_ERRORS = new Set(['forbidden', 'bad_request', 'unknown_type', 'too_large']);
/** Join errors retried on the same connection even before the first `joined` (`ready` stays pending). */
const RETRIED_JOIN_ERRORS = new Set(['timeout', 'rate_limited', 'unavailable']);
/** A request without an answer after this long rejects with `timeout`. */
const DEFAULT_REQUEST_TIMEOUT_MS = 10000;
/**
 * A publish without its `ack` this long after the call rejects with `timeout`, whether it was sent or
 * still waited for its room (offline, reconnecting): an event that old (a raised hand, a chat line)
 * is one the app should decide about again, not one to send minutes later.
 */
const DEFAULT_PUBLISH_TIMEOUT_MS = 10000;
/** The longest delay `setTimeout` takes (a longer one fires at once). */
const MAX_TIMER_MS = 2147483647;
/**
 * Joins sent at once after `welcome`, then per second. The engine allows 20 frames a second per
 * socket with a burst of 40 (`lms.limits.rate-per-second`, `rate-burst`); the joins take half of
 * each, which leaves room for pings, publishes and the requests that waited for their room.
 */
const DEFAULT_REJOIN_BURST = 20;
const DEFAULT_REJOIN_PER_SECOND = 10;
/** A join refused with `rate_limited` and no `retryAfterMs` waits this long (the bucket refills meanwhile). */
const DEFAULT_RATE_LIMITED_RETRY_MS = 1000;
/** The first reconnect after a crash-like close waits between this and twice this. */
const DEFAULT_MIN_CRASH_RETRY_MS = 1000;
/** Close codes of a crash: no close frame (1006), internal error, restarting, try again later. */
const CRASH_CLOSE_CODES = new Set([1006, 1011, 1012, 1013]);
const SOCKET_OPEN = 1;
/**
 * Positions go to the storage at most this often (a room at 100 events a second must not cost 100
 * synchronous `localStorage` writes a second), and at once on `pagehide`, a hidden page, a drop and
 * `close()`.
 */
const DEFAULT_STORAGE_FLUSH_MS = 1000;
const STORAGE_PREFIX = 'lms-realtime:';
/** The event a device publishes into its user's room to mark a notification read (contract 1.1). */
const READ_EVENT = 'notification.read';
/** A listener for any of these makes the client follow the user's inbox (the `user:` room). */
const INBOX_LISTENERS = new Set(['notification', 'notification_read', 'event']);
/**
 * In-band refresh (contract 1.1): a new access token is asked of the token function this long before
 * the one in force expires, so the socket never reaches its 4001 and never has to reconnect (which
 * would cost a re-join of every room). A short token is refreshed a fifth of its lifetime ahead, if
 * that is less: a 3-minute token 36 s before its `exp`, not 60 s.
 */
const DEFAULT_REFRESH_MARGIN_MS = 60000;
const SHORT_TOKEN_FRACTION = 0.2;
/**
 * Up to half the margin again, drawn at random per refresh: a class of 300 whose tokens were minted in
 * the same second spreads its refreshes (and the platform's token requests) over 30 s, not one.
 */
const REFRESH_JITTER_FRACTION = 0.5;
/** A token function that failed during a refresh is tried again this much later (less for a short token). */
const REFRESH_RETRY_MS = 5000;
/**
 * Never two refreshes closer than this: a token function that keeps giving tokens about to expire (a
 * cache, a clock that is off) must not make the client spin.
 */
const MIN_REFRESH_DELAY_MS = 1000;

/**
 * The transports, in the order they are tried (contract §10): a WebSocket; the HTTP fallback's event
 * stream (`GET /sse`) where a proxy refuses or breaks the upgrade; its long polls
 * (`GET /sse?mode=poll`) where a proxy also buffers the stream until it ends.
 */
const TRANSPORTS = ['websocket', 'sse', 'long-poll'];
/**
 * A transport that gives no `welcome` within this is taken as blocked (a proxy that holds the upgrade,
 * or buffers the stream) and the next one is tried. The engine's welcome comes in milliseconds.
 */
const DEFAULT_FALLBACK_AFTER_MS = 4000;
/**
 * Once a fallback worked, the page's next connections start on it; a reconnect this long after the
 * WebSocket last failed tries the WebSocket first again (the laptop may have left the school network).
 */
const DEFAULT_WEBSOCKET_RETRY_MS = 300000;
/** The engine holds a long poll up to 25 s (`lms.fallback.poll-wait`): one unanswered after this is made again. */
const POLL_TIMEOUT_MS = 40000;
/** A poll that failed on the network is made again after this (the engine answers the same position again)… */
const POLL_RETRY_MS = 500;
/** …this many times in a row; then the connection is taken as dropped. */
const POLL_RETRIES = 3;
/** A POST carries at most this many bytes of frames (the rest go in the next one); a bigger frame goes alone. */
const MAX_POST_BATCH_BYTES = 65536;
/** A POST answered 429 (the engine has not applied the ones before yet) is sent again after its `Retry-After`, or this. */
const DEFAULT_POST_RETRY_MS = 1000;
/**
 * Which transport worked, per engine URL, for the life of the page (this JavaScript realm), and when
 * the WebSocket last failed: `{transport, webSocketFailedAt}`. Shared by the page's clients, so a
 * client made later does not wait for a blocked upgrade again.
 */
const transportMemory = new Map();

const noop = () => {};
const now = () =>
  globalThis.performance && typeof globalThis.performance.now === 'function'
    ? globalThis.performance.now()
    : Date.now();

/** @returns {{type:'error', code:string, message:string}} an error shaped like the engine's */
function errorFrame(code, message, extra) {
  return Object.assign({ type: 'error', code, message }, extra);
}

/** Calls a string-or-function-or-promise option and gives back its value. */
async function resolveValue(v) {
  return typeof v === 'function' ? await v() : await v;
}

/**
 * Where positions are kept when the page has no `localStorage` (Node, a sandboxed frame): shared by
 * the clients of this JavaScript realm, so a client made again (a new object, same page) still finds
 * the positions of the one before.
 */
const memoryStorage = (() => {
  const items = new Map();
  return {
    getItem: (k) => (items.has(k) ? items.get(k) : null),
    setItem: (k, v) => { items.set(k, String(v)); },
    removeItem: (k) => { items.delete(k); },
  };
})();

/** `globalThis.localStorage` when there is one that works, else the in-memory store. */
function defaultStorage() {
  try {
    const ls = globalThis.localStorage;
    if (ls && typeof ls.getItem === 'function' && typeof ls.setItem === 'function') return ls;
  } catch {
    // reading localStorage throws (SecurityError) where storage is disabled for the page
  }
  return memoryStorage;
}

function isStorage(s) {
  return s !== null && typeof s === 'object' && typeof s.getItem === 'function'
    && typeof s.setItem === 'function' && typeof s.removeItem === 'function';
}

/** `ws:`/`wss:` stay; `http(s):` become `ws(s):`; a relative URL is taken against the page. */
function socketUrl(url) {
  if (/^wss?:\/\//i.test(url)) return url;
  if (/^https?:\/\//i.test(url)) return url.replace(/^http/i, 'ws');
  const loc = globalThis.location;
  if (loc && loc.href) {
    const u = new URL(url, loc.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.toString();
  }
  return url;
}

/**
 * The claims of a JWT, read without verifying it (the engine does that): the payload is base64url
 * JSON. Null for anything that is not a JWT with a numeric `exp` (an opaque token, an empty one: then
 * the client cannot know when it expires and does not refresh it ahead of time).
 * @returns {{exp: number, iat?: number}|null}
 */
function jwtClaims(token) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3 || typeof globalThis.atob !== 'function') return null;
  try {
    let b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4 !== 0) b64 += '=';
    const bytes = Uint8Array.from(globalThis.atob(b64), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    if (claims === null || typeof claims !== 'object' || !Number.isFinite(claims.exp)) return null;
    return Number.isFinite(claims.iat) && claims.iat < claims.exp ? { exp: claims.exp, iat: claims.iat } : { exp: claims.exp };
  } catch {
    return null;
  }
}

/**
 * How long a token obtained at `obtainedAt` (`now()`) has left, and its whole lifetime, in ms. The
 * `exp` is the platform's clock and the device's may be off, so with an `iat` two figures are
 * compared: the device clock's (`exp` - now) and the lifetime (`exp - iat`) counted from when the
 * token came. The smaller one wins: the clock's for a token the platform had cached for a while, the
 * lifetime's for a clock that is behind. A clock that says the token expired already, when the
 * platform just gave it, is ahead: then the lifetime's. Without an `iat` there is only the clock's,
 * and none at all when it says the token expired (null: no refresh ahead of time).
 * @returns {{remainingMs: number, lifetimeMs: number}|null}
 */
function tokenTiming(claims, obtainedAt) {
  const byClock = claims.exp * 1000 - Date.now();
  if (claims.iat === undefined) return byClock > 0 ? { remainingMs: byClock, lifetimeMs: byClock } : null;
  const lifetimeMs = (claims.exp - claims.iat) * 1000;
  const byIat = lifetimeMs - (now() - obtainedAt);
  return { remainingMs: byClock > 0 ? Math.min(byClock, byIat) : byIat, lifetimeMs };
}

function withToken(url, token) {
  if (token === undefined || token === null || token === '') return url;
  return url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(String(token));
}

/**
 * The transports to try, in the contract's order: `wanted`, or by default all that this environment
 * can carry (a WebSocket class; fetch and an absolute URL for the HTTP fallback).
 */
function transportList(wanted, hasWebSocket, hasFallback) {
  if (wanted === undefined || wanted === null) {
    return TRANSPORTS.filter((t) => (t === 'websocket' ? hasWebSocket : hasFallback));
  }
  if (!Array.isArray(wanted) || wanted.some((t) => !TRANSPORTS.includes(t))) {
    throw new TypeError('RealtimeClient: options.transports is an array of ' + TRANSPORTS.map((t) => "'" + t + "'").join(', '));
  }
  return TRANSPORTS.filter((t) => wanted.includes(t));
}

/** `GET /sse?mode=poll`: the long-poll mode's first request. */
function pollOpenUrl(sseUrl) {
  const u = new URL(sseUrl.href);
  u.searchParams.set('mode', 'poll');
  return u;
}

/** The `retryAfterMs` a close reason of the engine may carry (contract §5), or 0. */
function retryAfterMs(reason) {
  if (typeof reason !== 'string' || !reason.startsWith('{')) return 0;
  try {
    const n = Number(JSON.parse(reason).retryAfterMs);
    return Number.isFinite(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}

function textOf(data) {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  return null;
}

function positiveNumber(v, fallback) {
  const n = Number(v);
  return v !== undefined && v !== null && Number.isFinite(n) && n > 0 ? n : fallback;
}

function nonNegativeNumber(v, fallback) {
  return v === 0 ? 0 : positiveNumber(v, fallback);
}

/** The engine's `retryAfterMs` advice on an error frame, or 0. */
function frameRetryAfterMs(frame) {
  return positiveNumber(frame.retryAfterMs, 0);
}

/** True for a close that looks like a crash of the engine or the network (`null`: we gave up the socket). */
function crashClose(code) {
  return code === null || CRASH_CLOSE_CODES.has(code);
}

/**
 * A connection to the engine that keeps itself alive: heartbeat, reconnect with backoff and full
 * jitter, re-join with recovery. It starts connecting right after construction (in a microtask, so
 * listeners added in the same tick see the first `'connecting'`).
 */
export class RealtimeClient {
  /**
   * @param {object} options
   * @param {string} options.url WebSocket URL of the engine, e.g. `wss://host/ws` (`http(s):` and
   *   page-relative URLs are accepted too).
   * @param {string|(() => string|Promise<string>)} [options.token] access token, or a function
   *   called before every (re)connect, and ahead of the token's expiry to refresh it in-band (see
   *   `refresh`). Sent as the `token` query parameter; omitted when empty (then a same-site
   *   `access_token` cookie can authenticate).
   * @param {typeof WebSocket} [options.WebSocket] WebSocket class; default `globalThis.WebSocket`.
   * @param {number} [options.heartbeatSeconds] heartbeat interval to use when it is shorter than
   *   the one of `welcome` (or when `welcome` has none); default: the engine's.
   * @param {{initialMs?: number, maxMs?: number, resetAfterMs?: number, minCrashRetryMs?: number}} [options.backoff]
   *   `minCrashRetryMs`: the first reconnect after a crash-like close (1006, 1011, 1012, 1013, or a
   *   socket given up) waits between this and twice this; default 1000, 0 turns it off.
   * @param {number} [options.connectTimeoutMs] give up a socket without `welcome` after this.
   * @param {number} [options.requestTimeoutMs] a request (join, leave, publish, presence) without an
   *   answer after this rejects with `{code:'timeout'}`; default 10000.
   * @param {number} [options.publishTimeoutMs] a publish (and `markRead`) without its `ack` this long
   *   after the call, sent or still waiting for its room, rejects with `{code:'timeout'}`; default 10000.
   * @param {number} [options.rejoinBurst] joins sent at once after `welcome`; default 20.
   * @param {number} [options.rejoinPerSecond] then joins per second; default 10.
   * @param {{getItem(key: string): string|null, setItem(key: string, value: string): void,
   *   removeItem(key: string): void}|null} [options.storage] where the last position of each room
   *   (and of the inbox) is kept, so that a new client (a reloaded page) joins with `since` and
   *   recovers; default `globalThis.localStorage`, else an in-memory store; `null`: nowhere.
   * @param {number} [options.storageFlushMs] positions are written at most this often; default 1000.
   * @param {boolean} [options.refresh] `false`: never refresh the access token in-band (the socket
   *   then ends at its token's expiry, 4001, and reconnects with a fresh one); default true, which
   *   needs `token` to be a function and its tokens to be JWTs (their `exp` says when to refresh).
   * @param {number} [options.refreshMarginMs] ask for a new token this long before the one in force
   *   expires (a fifth of a short token's lifetime if that is less), plus a random jitter of up to
   *   half of it; default 60000.
   */
  constructor(options) {
    options = options || /** @type {any} */ ({});
    const { url, token } = options;
    if (typeof url !== 'string' || url === '') throw new TypeError('RealtimeClient: options.url is required');
    const WS = options.WebSocket || globalThis.WebSocket;
    const fetchFn = options.fetch || (typeof globalThis.fetch === 'function' ? globalThis.fetch.bind(globalThis) : null);
    const fallback = typeof url === 'string' ? fallbackUrl(url) : null;
    const hasFallback = typeof fetchFn === 'function' && fallback !== null;
    const transports = transportList(options.transports, typeof WS === 'function', hasFallback);
    if (transports.length === 0 || (transports.includes('websocket') && typeof WS !== 'function')) {
      throw new TypeError('RealtimeClient: no WebSocket implementation; pass options.WebSocket');
    }
    if (transports.some((t) => t !== 'websocket') && !hasFallback) {
      throw new TypeError('RealtimeClient: the HTTP fallback needs fetch and an absolute url (or a page); '
        + 'pass options.fetch, or options.transports: [\'websocket\']');
    }
    const backoff = options.backoff || {};
    const storage = options.storage === undefined ? defaultStorage() : options.storage;
    if (storage !== null && !isStorage(storage)) {
      throw new TypeError('RealtimeClient: options.storage needs getItem, setItem and removeItem (or null for none)');
    }
    /** The engine's URL as given. */
    this.url = url;
    /** Connection attempts made after the first one (reconnects), since construction. */
    this.reconnectAttempts = 0;
    /** From the last `welcome`: this connection's id, the user's id, the heartbeat in use. */
    this.connectionId = null;
    this.userId = null;
    this.heartbeatSeconds = null;
    /**
     * `exp` (seconds since the epoch) of the access token the connection runs on: the one it connected
     * with (when it is a JWT), then each `refreshed`'s; null when not known.
     */
    this.tokenExp = null;
    /**
     * What carries the connection (contract §10): `'websocket'`, `'sse'` or `'long-poll'`; while
     * connecting, the one being tried. Null before the first attempt.
     * @type {'websocket'|'sse'|'long-poll'|null}
     */
    this.transport = null;

    this._WS = WS;
    this._fetch = fetchFn;
    this._transports = transports;
    this._sseUrl = fallback;
    this._fallbackAfterMs = positiveNumber(options.fallbackAfterMs, DEFAULT_FALLBACK_AFTER_MS);
    this._webSocketRetryMs = nonNegativeNumber(options.webSocketRetryMs, DEFAULT_WEBSOCKET_RETRY_MS);
    this._token = token;
    this._heartbeatOption = positiveNumber(options.heartbeatSeconds, null);
    this._initialMs = positiveNumber(backoff.initialMs, DEFAULT_INITIAL_BACKOFF_MS);
    this._maxMs = positiveNumber(backoff.maxMs, DEFAULT_MAX_BACKOFF_MS);
    this._resetAfterMs = positiveNumber(backoff.resetAfterMs, DEFAULT_RESET_AFTER_MS);
    this._minCrashRetryMs = nonNegativeNumber(backoff.minCrashRetryMs, DEFAULT_MIN_CRASH_RETRY_MS);
    this._connectTimeoutMs = positiveNumber(options.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS);
    this._requestTimeoutMs = Math.min(MAX_TIMER_MS, positiveNumber(options.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS));
    this._publishTimeoutMs = Math.min(MAX_TIMER_MS, positiveNumber(options.publishTimeoutMs, DEFAULT_PUBLISH_TIMEOUT_MS));
    this._rejoinBurst = Math.max(1, Math.floor(positiveNumber(options.rejoinBurst, DEFAULT_REJOIN_BURST)));
    this._rejoinPerSecond = positiveNumber(options.rejoinPerSecond, DEFAULT_REJOIN_PER_SECOND);
    this._storage = storage;
    this._storageFlushMs = Math.min(MAX_TIMER_MS, positiveNumber(options.storageFlushMs, DEFAULT_STORAGE_FLUSH_MS));
    this._refreshEnabled = options.refresh !== false;
    this._refreshMarginMs = positiveNumber(options.refreshMarginMs, DEFAULT_REFRESH_MARGIN_MS);
    /** The token the current attempt connects with, and when the token function gave it (for {@link tokenTiming}). */
    this._connectToken = null;
    /** When (`now()`) the token in force expires, and its lifetime; null when unknown (then no refresh ahead of time). */
    this._tokenExpiresAt = null;
    this._tokenLifetimeMs = 0;
    this._refreshTimer = null; // the next refresh, or a retry of a failed one
    this._refreshFailures = 0; // failed tries of the refresh under way (then a retry, a last try, a reconnect)
    this._refreshLastTry = false; // the try under way is the last one before the expiry
    /** Keys are per engine and user (two users of one browser keep apart): `lms-realtime:<url>:<userId>:<room>`. */
    this._storageUrl = socketUrl(url);
    /** @type {Set<Room>} rooms whose position moved since it was last written */
    this._dirty = new Set();
    this._flushTimer = null;
    this._storageFailed = false;
    /** `markRead` calls made before the first `welcome` (the user, so the inbox's name, is not known yet). */
    this._readsBeforeWelcome = [];

    /** @type {'connecting'|'connected'|'disconnected'|'closed'} */
    this._state = 'connecting';
    this._listeners = new Map();
    /** @type {Map<string, Room>} rooms the app joined and has not left */
    this._rooms = new Map();
    /**
     * Rooms left on this connection whose `left` answer has not come yet: the events the engine sent
     * before it took the leave are still on their way, and go nowhere (not to `on('event')` either).
     * @type {Map<string, number>} room name: leaves awaiting their answer
     */
    this._leaving = new Map();
    /** @type {Map<string, {onAnswer: Function, onDrop: Function, timer: any}>} requests sent, by id */
    this._pending = new Map();
    /** @type {Set<Room>} rooms waiting for their turn to send `join` (see {@link RealtimeClient#_pumpJoins}) */
    this._joinQueue = new Set();
    this._joinTokens = 0;
    this._joinRefilledAt = 0;
    this._joinTimer = null;
    /** No reconnect before this time (the engine's `retryAfterMs`), whatever asks for one. */
    this._retryNotBefore = 0;
    this._nextId = 0;
    this._failures = 0; // backoff exponent: attempts since the last stable connection
    this._generation = 0; // bumped on every attempt; stale sockets and callbacks compare against it
    this._ws = null;
    this._welcomedAt = null;
    this._lastSentAt = 0;
    this._lastReceivedAt = 0;
    this._pingSentAt = null;
    this._closed = false;
    this._reconnectTimer = null;
    this._reconnectAt = 0; // when the armed reconnect timer fires (`now()`)
    this._heartbeatTimer = null;
    this._heartbeatChained = false; // the heartbeat timer was armed from a timer callback
    this._heartbeatWs = null; // the socket the heartbeat runs for, and its half and full interval
    this._heartbeatHalfMs = 0;
    this._heartbeatFullMs = 0;
    this._probeTimer = null;
    this._connectTimer = null;

    this._onOnline = () => {
      // The browser says the network is back: skip the rest of the backoff wait (not the engine's
      // retryAfterMs: _reconnectNow waits for it).
      if (this._reconnectTimer !== null && !this._closed) {
        clearTimeout(this._reconnectTimer);
        this._reconnectTimer = null;
        this._reconnectNow();
      }
    };
    if (typeof globalThis.addEventListener === 'function') globalThis.addEventListener('online', this._onOnline);
    this._onVisibility = () => {
      // Hidden tabs have their timers throttled (Chrome: to about once a minute after 5 minutes), so
      // the heartbeat may have been late: back in view after a long silence, check the socket now.
      if (this._closed) return;
      if (pageVisible()) this._checkLiveness();
      // A hidden page may be frozen or discarded without another event (mobile browsers): write now.
      else this._flushPositions();
    };
    // The page goes away (reload, navigation, tab closed): the last positions must be in the storage.
    this._onPageHide = () => this._flushPositions();
    if (typeof globalThis.addEventListener === 'function') globalThis.addEventListener('pagehide', this._onPageHide);
    const doc = globalThis.document;
    if (doc && typeof doc.addEventListener === 'function') doc.addEventListener('visibilitychange', this._onVisibility);

    queueMicrotask(() => {
      if (this._closed) return;
      this._emit('state', 'connecting');
      this._connect();
    });
  }

  /** @returns {'connecting'|'connected'|'disconnected'|'closed'} */
  get state() {
    return this._state;
  }

  /**
   * Adds a listener. Events: `'state'`, `'welcome'`, `'notification'` (in `seq` order, never twice,
   * the ones missed while away included), `'notification_read'` (`{seq, from, ts, frame}`: a device
   * of the user marked a notification read), `'error'` (error frames not tied to a request, and the
   * client's own problems), `'event'` (events of rooms not joined through
   * {@link RealtimeClient#join}, such as the automatically joined `user:` room), `'refreshed'`
   * (`{exp}`: the engine took a new access token in-band; the socket now lasts until that `exp`),
   * `'disconnected'` (`{code, reason, retryAfterMs, message, welcomed, reconnectInMs}`: a connection
   * or an attempt ended, not by `close()`; `code` null when the client gave the socket up itself).
   *
   * A listener for `notification`, `notification_read` or `event` makes the client follow the
   * user's inbox: it joins `user:<me>` on every connect, with `since` once it knows a position, so
   * that what came while it was away is handed over after a reconnect or a reload.
   * @returns {() => void} a function that removes the listener
   */
  on(event, fn) {
    if (typeof fn !== 'function') throw new TypeError('RealtimeClient.on: listener must be a function');
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    if (INBOX_LISTENERS.has(event)) this._followInbox(false);
    return () => this.off(event, fn);
  }

  off(event, fn) {
    const set = this._listeners.get(event);
    if (set) set.delete(fn);
  }

  /**
   * Joins a room, now or as soon as the client is connected, and again after every reconnect.
   * Joining a room that is already joined gives back the same {@link Room} (its options stay).
   * @param {string} room e.g. `course:42`, `live:abc`, `user:u17`
   * @param {object} [options]
   * @param {string|(() => string|Promise<string>)} [options.token] room token (`live:` rooms);
   *   a function is called again before every re-join
   * @param {(evt: object) => void} [options.onEvent] each `event` frame, in `seq` order, no duplicates
   * @param {(diff: object) => void} [options.onPresence] each `presence_diff` frame of the room
   * @param {(joined: object) => void} [options.onReset] the engine could not recover the events
   *   missed while disconnected: reload the room's state, then events continue from `joined.seq`
   * @param {(joined: object) => void} [options.onJoined] every `joined` answer (first and re-joins)
   * @param {(left: object) => void} [options.onLeft] the engine took the user out of the room
   *   (`reason`: `removed` by the platform, `revoked` by a refreshed token): the room has ended
   * @returns {Room}
   */
  join(room, options = {}) {
    if (this._closed) throw new Error('RealtimeClient: the client is closed');
    if (typeof room !== 'string' || room === '') throw new TypeError('RealtimeClient.join: room name required');
    const existing = this._rooms.get(room);
    if (existing && existing._internal) {
      // The inbox the client followed by itself: from now on the app's, with the app's options.
      existing._internal = false;
      existing._options = options || {};
      existing._token = existing._options.token;
      return existing;
    }
    if (existing) return existing;
    const r = new Room(this, room, options || {});
    this._rooms.set(room, r);
    this._loadPosition(r);
    if (this._isConnected()) this._queueJoin(r);
    return r;
  }

  /**
   * Marks a notification read on every device of the user: publishes the event `notification.read`
   * with `{seq}` into `user:<me>` (contract 1.1). Every device, this one included, hears it as
   * `notification_read`; so does a device that comes back later, in its recovery.
   * @param {number} seq the notification's `seq`
   * @returns {Promise<{type:'ack', id:string, seq:number}>} what {@link Room#publish} gives
   */
  markRead(seq) {
    if (!Number.isSafeInteger(seq) || seq < 1) {
      return Promise.reject(errorFrame('bad_request', 'markRead: seq must be a positive integer'));
    }
    if (this._closed) return Promise.reject(errorFrame('closed', 'the client was closed'));
    return this._markRead(seq, this._publishTimeoutMs);
  }

  /** markRead with `timeoutMs` left of its publishTimeoutMs; before the first `welcome` it waits for it. */
  _markRead(seq, timeoutMs) {
    const inbox = this._followInbox(true);
    if (inbox) return inbox._publish(READ_EVENT, { seq }, timeoutMs);
    return new Promise((resolve, reject) => {
      const waiting = deadlineJob(resolve, reject, timeoutMs, (w) => {
        this._readsBeforeWelcome.splice(this._readsBeforeWelcome.indexOf(w), 1);
        w.reject(publishTimeout(timeoutMs, 'the client has not been connected yet'));
      });
      waiting.seq = seq;
      waiting.deadline = now() + timeoutMs;
      this._readsBeforeWelcome.push(waiting);
    });
  }

  /** Closes the socket with 1000 and stops heartbeat and reconnects for good. */
  close() {
    if (this._closed) return;
    this._flushPositions(); // a clean close never loses the last position
    this._closed = true;
    this._clearTimers();
    if (this._reconnectTimer !== null) clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    if (typeof globalThis.removeEventListener === 'function') {
      globalThis.removeEventListener('online', this._onOnline);
      globalThis.removeEventListener('pagehide', this._onPageHide);
    }
    const doc = globalThis.document;
    if (doc && typeof doc.removeEventListener === 'function') doc.removeEventListener('visibilitychange', this._onVisibility);
    const ws = this._ws;
    this._ws = null;
    this._generation++;
    if (ws) closeQuietly(ws, 1000, 'client closed');
    this._dropPending(errorFrame('closed', 'the client was closed'));
    for (const r of [...this._rooms.values()]) r._terminate(errorFrame('closed', 'the client was closed'));
    this._rooms.clear();
    for (const w of this._readsBeforeWelcome.splice(0)) w.reject(errorFrame('closed', 'the client was closed'));
    this._setState('closed');
  }

  // ---------------------------------------------------------------- connection lifecycle

  async _connect() {
    if (this._closed) return;
    const gen = ++this._generation;
    this._setState('connecting');
    let token;
    try {
      token = await resolveValue(this._token);
    } catch (err) {
      if (gen !== this._generation || this._closed) return;
      const message = 'the token function failed: ' + messageOf(err);
      this._emitError('token_error', message, { cause: err });
      this._setState('disconnected');
      this._scheduleReconnect('', false);
      this._emitDisconnected(null, '', message, false);
      return;
    }
    if (gen !== this._generation || this._closed) return;
    this._connectToken = { token, obtainedAt: now() };
    this._open(token, this._transportOrder(), 0);
  }

  /**
   * The transports this attempt tries, in order: all of them, unless one of the fallbacks worked on
   * this page before; then that one (and what follows it), with the WebSocket first again once
   * `webSocketRetryMs` have passed since it last failed.
   */
  _transportOrder() {
    const all = this._transports;
    const memory = transportMemory.get(this._storageUrl);
    const at = memory ? all.indexOf(memory.transport) : -1;
    if (at <= 0) return all;
    const failedAt = memory.webSocketFailedAt;
    const retry = all[0] === 'websocket' && (failedAt === null || now() - failedAt >= this._webSocketRetryMs);
    return retry ? [all[0], ...all.slice(at)] : all.slice(at);
  }

  /**
   * Opens transport `order[step]` for this attempt. One that is not the last and proves blocked (a
   * WebSocket closed before `welcome`, a stream that ended before it, no `welcome` within
   * `fallbackAfterMs`) gives way to the next one ({@link RealtimeClient#_fallBack}); what is left
   * ends the attempt as a drop does (a refusal of the engine, a network error, the last transport).
   */
  _open(token, order, step) {
    const kind = order[step];
    const last = step === order.length - 1;
    let conn;
    try {
      conn = kind === 'websocket'
        ? new this._WS(withToken(socketUrl(this.url), token))
        : new HttpLink(kind, kind === 'sse' ? this._sseUrl : pollOpenUrl(this._sseUrl), token, this._fetch);
    } catch (err) {
      const message = 'could not open a ' + kind + ' connection: ' + messageOf(err);
      if (!last) {
        this._emit('fallback', { from: kind, to: order[step + 1], message });
        this._open(token, order, step + 1);
        return;
      }
      this._emitError('connect_failed', message, { cause: err });
      this._setState('disconnected');
      this._scheduleReconnect('', false);
      this._emitDisconnected(null, '', message, false);
      return;
    }
    this.transport = kind;
    this._ws = conn;
    this._welcomedAt = null;
    this._pingSentAt = null;
    conn.onopen = noop;
    conn.onerror = noop; // a close event follows every error
    conn.onmessage = (e) => {
      if (conn === this._ws) this._onMessage(e.data, e.frame);
    };
    conn.onclose = (e) => {
      if (conn !== this._ws) return;
      const why = e.message || 'closed by the engine or network';
      if (this._welcomedAt === null && !last && e.fallback !== false) {
        this._fallBack(conn, token, order, step, why + (e.code ? ' (' + e.code + ')' : ''));
        return;
      }
      this._socketGone(conn, e.code ?? null, e.reason ?? '', why);
    };
    const waitMs = last ? this._connectTimeoutMs : Math.min(this._fallbackAfterMs, this._connectTimeoutMs);
    this._connectTimer = setTimeout(() => {
      const why = 'no welcome within ' + waitMs + ' ms';
      if (last) this._abandon(conn, why);
      else this._fallBack(conn, token, order, step, why);
    }, waitMs);
  }

  /** `order[step]` proved blocked before its `welcome`: given up, and the next transport tried (same token). */
  _fallBack(conn, token, order, step, why) {
    if (conn !== this._ws || this._closed) return;
    if (this._connectTimer !== null) clearTimeout(this._connectTimer);
    this._connectTimer = null;
    this._ws = null;
    closeQuietly(conn, 4000, why);
    if (order[step] === 'websocket') this._rememberTransport(null, now());
    this._emit('fallback', { from: order[step], to: order[step + 1], message: why });
    this._open(token, order, step + 1);
  }

  /** Notes for the page which transport worked (`welcome`), or when the WebSocket failed. */
  _rememberTransport(transport, webSocketFailedAt) {
    const memory = transportMemory.get(this._storageUrl) || { transport: null, webSocketFailedAt: null };
    if (transport !== null) memory.transport = transport;
    if (transport === 'websocket') memory.webSocketFailedAt = null;
    if (webSocketFailedAt !== null) memory.webSocketFailedAt = webSocketFailedAt;
    transportMemory.set(this._storageUrl, memory);
  }

  /** Closes a socket we gave up on (heartbeat or connect timeout) and reconnects without waiting for its close. */
  _abandon(ws, why) {
    if (ws === null || ws !== this._ws) return;
    this._socketGone(ws, null, '', why);
    closeQuietly(ws, 4000, why);
  }

  /** @param {boolean} [soon] connect again at once (the client chose the moment), not after a backoff */
  _socketGone(ws, code, reason, why, soon = false) {
    if (ws !== this._ws) return;
    this._ws = null;
    detach(ws);
    this._clearTimers();
    const welcomedAt = this._welcomedAt;
    this._welcomedAt = null;
    if (this._closed) return;
    const detail = code === null ? why : 'socket closed (' + code + (reason ? ' ' + reason : '') + ')';
    this._dropPending(errorFrame('disconnected', detail, code === null ? undefined : { closeCode: code }));
    this._leaving.clear(); // a new connection carries nothing of the rooms left on this one
    for (const r of this._rooms.values()) r._onDisconnected();
    this._flushPositions(); // nothing moves until the re-join; the page may well go away meanwhile
    this._setState('disconnected');
    if (welcomedAt === null) this._emitError('connect_failed', 'no connection: ' + detail, code === null ? undefined : { closeCode: code });
    if (welcomedAt !== null && now() - welcomedAt >= this._resetAfterMs) this._failures = 0;
    if (soon) this._armReconnect(0);
    else this._scheduleReconnect(reason, welcomedAt !== null && crashClose(code));
    this._emitDisconnected(code, code === null ? '' : reason || '', detail, welcomedAt !== null);
  }

  /**
   * The `disconnected` event: why the connection (or the attempt) ended, and when the next attempt
   * is due (the reconnect is armed by then; `close()` emits none).
   * @param {number|null} code the close code, or null when the client gave the socket up (or had none)
   * @param {string} reason the close frame's reason as the engine sent it ('' when none)
   */
  _emitDisconnected(code, reason, message, welcomed) {
    if (this._closed) return;
    const reconnectInMs = this._reconnectTimer === null ? null : Math.max(0, Math.ceil(this._reconnectAt - now()));
    this._emit('disconnected', { code, reason, retryAfterMs: retryAfterMs(reason), message, welcomed, reconnectInMs });
  }

  /**
   * Full jitter: attempt n waits random(0, min(maxMs, initialMs * 2^n)); after a crash of a
   * connection that was up, at least minCrashRetryMs jittered upward (so a crashed node's sockets do
   * not all come back in the same instant); never before the engine's retryAfterMs.
   * @param {string} reason the close reason, which may carry `{"retryAfterMs": N}`
   * @param {boolean} crashed the connection had `welcome` and ended like a crash
   */
  _scheduleReconnect(reason, crashed) {
    if (this._closed || this._reconnectTimer !== null) return;
    this._noteRetryAfter(retryAfterMs(reason));
    const cap = Math.min(this._maxMs, this._initialMs * 2 ** this._failures);
    this._failures = Math.min(this._failures + 1, 30);
    let delay = Math.random() * cap;
    if (crashed) delay = Math.max(delay, this._minCrashRetryMs * (1 + Math.random()));
    this._armReconnect(delay);
  }

  /** Arms the reconnect timer for `delay` ms, or later if the engine asked to wait longer. */
  _armReconnect(delay) {
    delay = Math.min(MAX_TIMER_MS, Math.max(delay, this._retryNotBefore - now()));
    this._reconnectAt = now() + delay;
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      this._reconnectNow();
    }, delay);
  }

  /** Every reconnect goes through here: at once, unless the engine's retryAfterMs has not passed yet. */
  _reconnectNow() {
    if (this._closed) return;
    if (now() < this._retryNotBefore) {
      this._armReconnect(0);
      return;
    }
    this.reconnectAttempts++;
    this._connect();
  }

  /** The engine asked to wait `ms` before coming back (close reason or error frame). */
  _noteRetryAfter(ms) {
    if (ms > 0) this._retryNotBefore = Math.max(this._retryNotBefore, now() + ms);
  }

  _clearTimers() {
    if (this._heartbeatTimer !== null) clearTimeout(this._heartbeatTimer);
    if (this._probeTimer !== null) clearTimeout(this._probeTimer);
    if (this._connectTimer !== null) clearTimeout(this._connectTimer);
    if (this._joinTimer !== null) clearTimeout(this._joinTimer);
    this._clearRefreshTimer();
    this._heartbeatTimer = null;
    this._heartbeatChained = false;
    this._probeTimer = null;
    this._connectTimer = null;
    this._joinTimer = null;
    this._joinQueue.clear();
  }

  /**
   * A room is being left on this connection (see {@link RealtimeClient#_leaving}).
   * @returns {() => void} to call with the engine's answer: events of the room pass again after it
   */
  _startLeaving(name) {
    const ws = this._ws;
    this._leaving.set(name, (this._leaving.get(name) || 0) + 1);
    return () => {
      if (ws !== this._ws) return; // cleared with its connection
      const n = this._leaving.get(name) - 1;
      if (n > 0) this._leaving.set(name, n);
      else this._leaving.delete(name);
    };
  }

  _isConnected() {
    return this._ws !== null && this._welcomedAt !== null && this._ws.readyState === SOCKET_OPEN;
  }

  // ---------------------------------------------------------------- heartbeat

  /**
   * A ping whenever nothing was sent for half the interval (the engine drops a socket silent for two
   * intervals, so a late timer still has a margin); no frame back within one interval of a ping:
   * dropped. One `setTimeout` at a time, each computed from the last send (and the ping awaiting an
   * answer), rather than a `setInterval` polling: a browser that throttles the timers of a hidden tab
   * delays the next check but never makes it count stale ticks.
   *
   * A timer armed by a timer callback is "chained"; Chrome throttles chains of 5 or more in a tab
   * hidden for 5 minutes to one run a minute, longer than the engine waits (2 intervals, 50 s by
   * default). So the timer armed after a ping is armed again by the handler of the frame that answers
   * it (a network task, which starts a new chain): as long as the engine answers, the chain stays short.
   */
  _startHeartbeat(seconds) {
    this._heartbeatWs = this._ws;
    this._heartbeatHalfMs = seconds * 500;
    this._heartbeatFullMs = seconds * 1000;
    this._scheduleHeartbeat(false);
  }

  /**
   * (Re)arms the heartbeat timer for the earliest of: the next ping due, the pong deadline.
   * @param {boolean} fromTimer armed from the heartbeat's own timer callback (a chained timer)
   */
  _scheduleHeartbeat(fromTimer) {
    if (this._heartbeatTimer !== null) clearTimeout(this._heartbeatTimer);
    this._heartbeatTimer = null;
    this._heartbeatChained = false;
    const ws = this._heartbeatWs;
    if (this._closed || ws !== this._ws || ws === null) return;
    let due = this._lastSentAt + this._heartbeatHalfMs;
    if (this._pingSentAt !== null) due = Math.min(due, this._pingSentAt + this._heartbeatFullMs);
    const delay = Math.max(MIN_HEARTBEAT_DELAY_MS, Math.ceil(due - now()));
    this._heartbeatChained = fromTimer;
    this._heartbeatTimer = setTimeout(() => {
      this._heartbeatTimer = null;
      this._heartbeat(ws);
    }, delay);
  }

  _heartbeat(ws) {
    if (ws !== this._ws || this._closed) return;
    const t = now();
    if (this._pingSentAt !== null && t - this._pingSentAt >= this._heartbeatFullMs) {
      this._abandon(ws, 'no pong within ' + this._heartbeatFullMs / 1000 + ' s');
      return;
    }
    if (t - this._lastSentAt >= this._heartbeatHalfMs) this._ping(t);
    this._scheduleHeartbeat(true);
  }

  /**
   * Sends a ping; the first ping not yet answered by any frame starts the pong deadline (so does one
   * that could not be sent: a socket that takes no frames is given up after an interval too).
   */
  _ping(t) {
    this._send({ type: 'ping' });
    if (this._pingSentAt === null) this._pingSentAt = t;
  }

  /**
   * The page is visible again: if nothing came from the engine for more than one heartbeat interval
   * (timers of the hidden tab may have run late), ping at once and give the socket up when no frame
   * answers within {@link VISIBLE_PROBE_MS} (or one interval, if shorter).
   */
  _checkLiveness() {
    if (!this._isConnected() || this._probeTimer !== null) return;
    const fullMs = this._heartbeatFullMs;
    const t = now();
    if (t - this._lastReceivedAt <= fullMs) return;
    const ws = this._ws;
    const sentAt = t;
    // This ping gets its own answer window: a deadline left over from a late timer does not count.
    this._send({ type: 'ping' });
    this._pingSentAt = t;
    this._probeTimer = setTimeout(() => {
      this._probeTimer = null;
      if (ws !== this._ws || this._closed) return;
      if (this._lastReceivedAt < sentAt) this._abandon(ws, 'no pong within ' + Math.min(VISIBLE_PROBE_MS, fullMs) + ' ms after the page became visible');
    }, Math.min(VISIBLE_PROBE_MS, fullMs));
    this._scheduleHeartbeat(false);
  }

  // ---------------------------------------------------------------- frames

  _send(frame) {
    const ws = this._ws;
    if (ws === null || ws.readyState !== SOCKET_OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
    } catch (err) {
      this._emitError('send_failed', 'could not send a frame: ' + messageOf(err), { cause: err });
      return false;
    }
    this._lastSentAt = now();
    return true;
  }

  /**
   * Sends a request with a fresh id. `onAnswer` gets the answer frame carrying that id, `onDrop`
   * an error frame if the connection ends first (or cannot send), or `timeout` when no answer came
   * within requestTimeoutMs (an answer after that is ignored).
   */
  _request(frame, onAnswer, onDrop) {
    const id = 'r' + ++this._nextId;
    const out = Object.assign({ id }, frame);
    const entry = { onAnswer, onDrop, timer: null };
    this._pending.set(id, entry);
    if (!this._send(out)) {
      this._pending.delete(id);
      onDrop(errorFrame('disconnected', 'not connected', { id }));
      return id;
    }
    entry.timer = setTimeout(() => this._timeOut(id), this._requestTimeoutMs);
    return id;
  }

  /** A request given up by its caller: its answer, if one comes, is ignored. */
  _forgetRequest(id) {
    const p = this._pending.get(id);
    if (!p) return;
    this._pending.delete(id);
    clearTimeout(p.timer);
  }

  _timeOut(id) {
    const p = this._pending.get(id);
    if (!p) return;
    this._pending.delete(id);
    const ms = this._requestTimeoutMs;
    this._guard(() => p.onDrop(errorFrame('timeout', 'no answer within ' + ms + ' ms', { id, timeoutMs: ms })));
  }

  _dropPending(err) {
    const entries = [...this._pending.entries()];
    this._pending.clear();
    for (const [id, p] of entries) {
      clearTimeout(p.timer);
      this._guard(() => p.onDrop(Object.assign({}, err, { id })));
    }
  }

  /** @param {object} [parsed] the frame, parsed already (the HTTP fallback's) */
  _onMessage(data, parsed) {
    this._pingSentAt = null; // anything from the engine proves the connection alive
    this._lastReceivedAt = now();
    if (this._heartbeatChained) this._scheduleHeartbeat(false); // a new timer chain (see _startHeartbeat)
    let frame = parsed;
    if (frame === undefined) {
      try {
        frame = JSON.parse(textOf(data));
      } catch {
        this._emitError('bad_frame', 'the engine sent a frame that is not JSON');
        return;
      }
    }
    if (frame === null || typeof frame !== 'object' || typeof frame.type !== 'string') {
      this._emitError('bad_frame', 'the engine sent a frame without a type');
      return;
    }
    this._guard(() => this._dispatch(frame));
  }

  _dispatch(frame) {
    if (frame.type === 'error') this._noteRetryAfter(frameRetryAfterMs(frame));
    if (typeof frame.id === 'string' && frame.type !== 'welcome') {
      const p = this._pending.get(frame.id);
      if (p) {
        this._pending.delete(frame.id);
        clearTimeout(p.timer);
        p.onAnswer(frame);
        return;
      }
    }
    const room = typeof frame.room === 'string' ? this._rooms.get(frame.room) : undefined;
    switch (frame.type) {
      case 'welcome':
        this._onWelcome(frame);
        break;
      case 'event':
        if (room) room._onLiveEvent(frame);
        else if (!this._leaving.has(frame.room)) {
          this._emit('event', frame);
          if (frame.room === this._inboxName()) this._emitRead(frame);
        }
        break;
      case 'presence_diff':
        if (room) room._onPresenceDiff(frame);
        break;
      case 'left':
        if (room && frame.id === undefined) room._onRemoved(frame);
        break;
      case 'joined':
        // Unasked: the room moved and its history was lost (its node crashed) while this socket
        // stayed connected. The engine says where the room stands now; carry on from there.
        if (room && frame.id === undefined && frame.recovered === false && room.joined) room._onResetByEngine(frame);
        break;
      case 'notification': {
        // One kept in the user's stream (contract 1.1) is numbered in the `user:` room: it goes
        // through that room's order, de-duplication and recovery, like an event. One sent with
        // `durable: false` has no seq and passes as it comes.
        const inbox = typeof frame.seq === 'number' ? room || this._rooms.get(this._inboxName()) : undefined;
        if (inbox) inbox._onLiveEvent(frame);
        else this._emit('notification', frame);
        break;
      }
      case 'error':
        // An error with an id answers a request given up already (dropped or timed out).
        if (frame.id === undefined) this._emit('error', frame);
        break;
      default:
        // pong, answers to requests already given up, and frame types of later versions.
        break;
    }
  }

  _onWelcome(frame) {
    if (this._welcomedAt !== null) return;
    if (this._connectTimer !== null) clearTimeout(this._connectTimer);
    this._connectTimer = null;
    this._welcomedAt = now();
    this._lastSentAt = this._welcomedAt;
    this._rememberTransport(this.transport, null);
    this.connectionId = frame.connectionId ?? null;
    const userId = frame.userId ?? null;
    if (userId !== this.userId) this._switchUser(userId);
    const engine = positiveNumber(frame.heartbeatSeconds, null);
    const option = this._heartbeatOption;
    this.heartbeatSeconds = engine && option ? Math.min(engine, option) : engine || option || DEFAULT_HEARTBEAT_SECONDS;
    this._startHeartbeat(this.heartbeatSeconds);
    this._startRefresh();
    this._setState('connected');
    this._emit('welcome', frame);
    this._joinTokens = this._rejoinBurst;
    this._joinRefilledAt = now();
    // The inbox first: the user's own socket gets its notifications live meanwhile, held until the
    // answer, and the fewer of them wait, the sooner they are shown.
    const inbox = this._followInbox(this._readsBeforeWelcome.length > 0);
    if (inbox) this._joinQueue.add(inbox);
    for (const r of [...this._rooms.values()]) this._joinQueue.add(r);
    this._pumpJoins();
    for (const w of this._readsBeforeWelcome.splice(0)) {
      this._markRead(w.seq, Math.max(1, w.deadline - now())).then(w.resolve, w.reject);
    }
  }

  // ---------------------------------------------------------------- in-band token refresh

  /**
   * After `welcome`: when the token the socket connected with is a JWT, its `exp` says when to ask the
   * token function for the next one. The socket then lives on across its tokens' expiries, with no
   * reconnect and no re-join (contract 1.1, `refresh`).
   */
  _startRefresh() {
    const t = this._connectToken;
    this._connectToken = null;
    this._refreshFailures = 0;
    this._refreshLastTry = false;
    const claims = t ? jwtClaims(t.token) : null;
    this.tokenExp = claims ? claims.exp : null;
    this._takeTokenTiming(claims, t ? t.obtainedAt : now());
    this._scheduleRefresh();
  }

  /** Notes when (`now()`) the token in force expires and its lifetime; unknown: null (no refresh ahead of time). */
  _takeTokenTiming(claims, obtainedAt) {
    const timing = claims ? tokenTiming(claims, obtainedAt) : null;
    this._tokenExpiresAt = timing ? now() + timing.remainingMs : null;
    this._tokenLifetimeMs = timing ? timing.lifetimeMs : 0;
  }

  /** How long before the expiry a refresh is due (before the jitter): the margin, or a fifth of a short token's lifetime. */
  _refreshLeadMs() {
    return Math.min(this._refreshMarginMs, this._tokenLifetimeMs * SHORT_TOKEN_FRACTION);
  }

  /**
   * Arms the next refresh: the lead plus a random jitter of up to half of it before the token in
   * force expires, never sooner than {@link MIN_REFRESH_DELAY_MS}. Nothing when refresh is off, when
   * the token is a fixed string (sending it again would extend nothing) or its expiry is unknown.
   */
  _scheduleRefresh() {
    this._clearRefreshTimer();
    if (!this._refreshEnabled || typeof this._token !== 'function' || this._tokenExpiresAt === null) return;
    const lead = this._refreshLeadMs();
    const at = this._tokenExpiresAt - lead - Math.random() * lead * REFRESH_JITTER_FRACTION;
    this._armRefreshTimer(Math.max(at, now() + MIN_REFRESH_DELAY_MS), () => this._refresh());
  }

  /**
   * The one timer of the refresh (the refresh itself, or a retry of it after a failure),
   * tied to the current socket and cleared with the others (a drop, `close()`), so it never keeps a
   * Node process alive. A time beyond `setTimeout`'s reach (about 24.8 days) is reached in steps.
   */
  _armRefreshTimer(at, fn) {
    this._clearRefreshTimer();
    const ws = this._ws;
    const delay = Math.max(0, at - now());
    this._refreshTimer = setTimeout(() => {
      this._refreshTimer = null;
      if (ws !== this._ws || this._closed) return;
      if (delay > MAX_TIMER_MS) this._armRefreshTimer(at, fn);
      else fn();
    }, Math.min(MAX_TIMER_MS, delay));
  }

  _clearRefreshTimer() {
    if (this._refreshTimer !== null) clearTimeout(this._refreshTimer);
    this._refreshTimer = null;
  }

  /**
   * Asks the token function for a new token and sends `{"type":"refresh","token":…}`. `refreshed`
   * moves the socket's deadline to its `exp` and arms the next refresh from there. A token function
   * that fails, or `rate_limited`, is tried again ({@link RealtimeClient#_refreshFailed}); a
   * refusal of the engine, or no answer, reconnects ({@link RealtimeClient#_refreshRefused}).
   */
  async _refresh() {
    if (!this._isConnected()) return;
    const gen = this._generation;
    let token;
    try {
      token = await resolveValue(this._token);
    } catch (err) {
      if (gen !== this._generation || this._closed) return;
      this._emitError('token_error', 'the token function failed (token refresh): ' + messageOf(err), { cause: err });
      this._refreshFailed(0);
      return;
    }
    if (gen !== this._generation || this._closed || !this._isConnected()) return;
    const obtainedAt = now();
    if (token === undefined || token === null || token === '') {
      this._emitError('token_error', 'the token function gave no token (token refresh)');
      this._refreshFailed(0);
      return;
    }
    const claims = jwtClaims(String(token));
    if (claims !== null && this.tokenExp !== null && claims.exp <= this.tokenExp) {
      // A token the platform still had cached: sending it would not move the deadline.
      this._emitError('token_error', 'the token function gave a token that expires no later than the one in force (exp '
        + claims.exp + ', token refresh)');
      this._refreshFailed(0);
      return;
    }
    this._request({ type: 'refresh', token: String(token) }, (answer) => {
      if (gen !== this._generation || this._closed) return;
      if (answer.type === 'refreshed') this._onRefreshed(answer, claims, obtainedAt);
      else if (answer.type === 'error' && answer.code === 'rate_limited') this._refreshFailed(frameRetryAfterMs(answer));
      else this._refreshRefused(answer);
    }, (err) => {
      // Dropped with the socket: the reconnect brings a fresh token anyway. Timed out: as refused.
      // Not sent (the socket would not take it): tried again like a failed token function.
      if (gen !== this._generation || this._closed || this._ws === null) return;
      if (err.code === 'timeout') this._refreshRefused(err);
      else this._refreshFailed(0);
    });
  }

  /** `refreshed`: the socket lasts until its `exp` now; the next refresh is armed from it. */
  _onRefreshed(frame, claims, obtainedAt) {
    const exp = Number.isFinite(frame.exp) ? frame.exp : claims ? claims.exp : null;
    this._refreshFailures = 0;
    this._refreshLastTry = false;
    this.tokenExp = exp;
    // The engine's exp is the new token's (docs/protocol.md §8), so the token's iat gives the lifetime.
    const timing = exp === null ? null : claims && claims.exp === exp ? claims : { exp };
    this._takeTokenTiming(timing, obtainedAt);
    this._scheduleRefresh();
    this._emit('refreshed', { exp });
  }

  /**
   * A refresh that could not be made (the token function failed or gave nothing new, `rate_limited`):
   * tried again a little later (not before the engine's `retryAfterMs`). If that fails too, or
   * the expiry is too near for a retry, a last try is made half the lead before the expiry: a
   * platform that hands out its cached token until shortly before its expiry gives a new one by
   * then. Should that fail as well, the client reconnects at once, through the token function and its
   * backoff, rather than wait for the engine's 4001.
   */
  _refreshFailed(retryAfterMs) {
    const expiresAt = this._tokenExpiresAt;
    if (expiresAt === null) return;
    if (this._refreshLastTry) {
      this._reconnectForToken('the token refresh failed');
      return;
    }
    this._refreshFailures++;
    const t = now();
    const lastAt = expiresAt - this._refreshLeadMs() / 2;
    const retryAt = t + Math.max(retryAfterMs, Math.min(REFRESH_RETRY_MS, (expiresAt - t) / 4));
    if (this._refreshFailures === 1 && retryAt < lastAt) {
      this._armRefreshTimer(retryAt, () => this._refresh());
      return;
    }
    this._armRefreshTimer(Math.max(t, lastAt), () => {
      this._refreshLastTry = true;
      this._refresh();
    });
  }

  /**
   * The engine refused the new token (`forbidden`: another user's; `unauthorized`: invalid;
   * `bad_request`, `unknown_type` from an engine without refresh…) or did not answer: `refresh_failed`
   * is emitted and the client reconnects at once with a fresh token (the rooms re-join with `since`).
   */
  _refreshRefused(err) {
    const why = err.code === 'timeout'
      ? 'no answer to the token refresh within ' + this._requestTimeoutMs + ' ms'
      : 'the engine refused the new token (' + err.code + (err.message ? ': ' + err.message : '') + ')';
    this._emitError('refresh_failed', why + '; reconnecting with a fresh token', { cause: err });
    this._reconnectForToken(why);
  }

  /** Gives the socket up and connects again at once, through the token function (like a 4001, only earlier). */
  _reconnectForToken(why) {
    const ws = this._ws;
    if (ws === null || this._closed) return;
    this._socketGone(ws, null, '', why, true);
    closeQuietly(ws, 4000, why);
  }

  // ---------------------------------------------------------------- the inbox

  /** `user:<me>`, or null before the first `welcome`. */
  _inboxName() {
    return this.userId === null ? null : 'user:' + this.userId;
  }

  /**
   * The room that follows the user's inbox: the app's own `join` of `user:<me>`, or one the client
   * joins by itself (events to the `event` listeners) when `force` or when it is wanted: a listener
   * of {@link INBOX_LISTENERS}, or a position known for it (from the storage: an earlier page
   * followed it). Null while the user is not known (before the first `welcome`) or when not wanted.
   */
  _followInbox(force) {
    const name = this._inboxName();
    if (name === null || this._closed) return null;
    const existing = this._rooms.get(name);
    if (existing) return existing;
    const wanted = force || [...INBOX_LISTENERS].some((e) => (this._listeners.get(e)?.size ?? 0) > 0)
      || this._storedPosition(name) !== null;
    if (!wanted) return null;
    const inbox = new Room(this, name, { onEvent: (e) => this._emit('event', e) });
    inbox._internal = true;
    this._rooms.set(name, inbox);
    this._loadPosition(inbox);
    if (this._isConnected()) this._queueJoin(inbox);
    return inbox;
  }

  /** A `notification.read` event of the user's room: `notification_read` with the notification's seq. */
  _emitRead(evt) {
    if (evt.event !== READ_EVENT) return;
    const seq = Number(evt.data && evt.data.seq);
    if (!Number.isSafeInteger(seq) || seq < 1) return;
    this._emit('notification_read', { seq, from: evt.from, ts: evt.ts, frame: evt });
  }

  /**
   * The engine says the socket is another user's than before (the token function gave another
   * user's token): positions seen so far were that user's, written under their keys; start over
   * from what the storage holds for the new one.
   */
  _switchUser(userId) {
    const first = this.userId === null;
    this._flushPositions();
    const oldInbox = this._inboxName();
    this.userId = userId;
    for (const r of [...this._rooms.values()]) {
      if (r._internal && r.name === oldInbox) {
        r._terminate(errorFrame('left', 'the socket is another user\'s now'));
        continue;
      }
      if (!first) {
        r.epoch = null;
        r.seq = null;
      }
      this._loadPosition(r);
    }
  }

  // ---------------------------------------------------------------- positions in the storage

  _storageKey(room) {
    return STORAGE_PREFIX + this._storageUrl + ':' + this.userId + ':' + room;
  }

  /** The stored `{epoch, seq}` of a room of the current user, or null. */
  _storedPosition(room) {
    if (this._storage === null || this.userId === null) return null;
    const text = this._storageCall((s) => s.getItem(this._storageKey(room)));
    if (typeof text !== 'string') return null;
    try {
      const p = JSON.parse(text);
      if (p && typeof p.epoch === 'string' && Number.isSafeInteger(p.seq) && p.seq >= 0) return { epoch: p.epoch, seq: p.seq };
    } catch {
      // not ours, or damaged: as if nothing were stored (the next write replaces it)
    }
    return null;
  }

  /** A room with no position yet takes the stored one: its first join then carries `since`. */
  _loadPosition(room) {
    if (room.epoch !== null) return;
    const p = this._storedPosition(room.name);
    if (p === null) return;
    room.epoch = p.epoch;
    room.seq = p.seq;
  }

  /** A room's position moved: written with the others on a short timer, not now (see {@link DEFAULT_STORAGE_FLUSH_MS}). */
  _positionMoved(room) {
    if (this._storage === null || this.userId === null || this._closed || room._gone) return;
    this._dirty.add(room);
    if (this._flushTimer !== null) return;
    this._flushTimer = setTimeout(() => {
      this._flushTimer = null;
      this._flushPositions();
    }, this._storageFlushMs);
  }

  /** Writes the positions that moved, one `setItem` per room. */
  _flushPositions() {
    if (this._flushTimer !== null) clearTimeout(this._flushTimer);
    this._flushTimer = null;
    if (this._dirty.size === 0) return;
    const rooms = [...this._dirty];
    this._dirty.clear();
    if (this._storage === null || this.userId === null) return;
    for (const r of rooms) {
      if (r._gone || r.epoch === null || r.seq === null) continue;
      const value = JSON.stringify({ epoch: r.epoch, seq: r.seq });
      this._storageCall((s) => s.setItem(this._storageKey(r.name), value));
    }
  }

  /** The room was left for good (or the user removed from it): its position is no use any more. */
  _forgetPosition(room) {
    this._dirty.delete(room);
    if (this._storage === null || this.userId === null) return;
    this._storageCall((s) => s.removeItem(this._storageKey(room.name)));
  }

  /** Runs a storage call; one that throws (quota, private mode) is reported once as `storage_error`. */
  _storageCall(fn) {
    try {
      return fn(this._storage);
    } catch (err) {
      if (!this._storageFailed) {
        this._storageFailed = true;
        this._emitError('storage_error', 'the position storage failed: ' + messageOf(err), { cause: err });
      }
      return null;
    }
  }

  // ---------------------------------------------------------------- join pacing

  /** Queues a room's `join` behind the others; it goes out when the pacing allows. */
  _queueJoin(room) {
    if (!this._isConnected()) return; // every room is queued again at the next welcome
    this._joinQueue.add(room);
    this._pumpJoins();
  }

  /**
   * Sends the queued joins the bucket allows (rejoinBurst at once, refilled at rejoinPerSecond) and
   * arms a timer for the rest. Also run on every join answer, a network task, so the timer chain
   * stays short in a hidden tab (see {@link RealtimeClient#_startHeartbeat}).
   */
  _pumpJoins() {
    if (this._joinTimer !== null) clearTimeout(this._joinTimer);
    this._joinTimer = null;
    if (this._closed || !this._isConnected()) return;
    this._refillJoinTokens();
    for (const r of this._joinQueue) {
      if (this._joinTokens < 1) break;
      this._joinQueue.delete(r);
      if (!r._needsJoin()) continue;
      this._joinTokens--;
      r._join();
    }
    if (this._joinQueue.size === 0) return;
    const wait = Math.ceil(((1 - this._joinTokens) * 1000) / this._rejoinPerSecond);
    this._joinTimer = setTimeout(() => {
      this._joinTimer = null;
      this._pumpJoins();
    }, Math.max(MIN_PACING_DELAY_MS, wait));
  }

  _refillJoinTokens() {
    const t = now();
    const earned = ((t - this._joinRefilledAt) / 1000) * this._rejoinPerSecond;
    this._joinTokens = Math.min(this._rejoinBurst, this._joinTokens + earned);
    this._joinRefilledAt = t;
  }

  // ---------------------------------------------------------------- listeners

  /** @param {'connecting'|'connected'|'disconnected'|'closed'} s */
  _setState(s) {
    if (this._state === s) return;
    this._state = s;
    this._emit('state', s);
  }

  _emit(event, arg) {
    const set = this._listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(arg);
      } catch (err) {
        if (event === 'error') rethrowLater(err); // an 'error' listener threw: nowhere left to report it
        else this._reportThrown(err, 'a "' + event + '" listener threw');
      }
    }
  }

  _emitError(code, message, extra) {
    this._emit('error', errorFrame(code, message, extra));
  }

  /** Runs app callbacks (and our own frame handling) so that nothing thrown reaches the socket. */
  _guard(fn, what = 'a callback') {
    try {
      fn();
    } catch (err) {
      this._reportThrown(err, what + ' threw');
    }
  }

  /**
   * An exception of the app's code (or a bug of ours): `handler_error` to the `error` listeners, or,
   * when there is none, thrown again outside the client so that it does not vanish. Either way the
   * client has done its own part (a position advanced, the next frame handled) and goes on.
   */
  _reportThrown(err, what) {
    if ((this._listeners.get('error')?.size ?? 0) > 0) {
      this._emitError('handler_error', what + ': ' + messageOf(err), { cause: err });
    } else {
      rethrowLater(err);
    }
  }
}

/**
 * One room joined through {@link RealtimeClient#join}. It stays joined across reconnects until
 * {@link Room#leave}, {@link RealtimeClient#close}, a failed first join, or the engine taking the user
 * out (a removal, or a refreshed token that no longer allows the room).
 */
class Room {
  /** Made by {@link RealtimeClient#join} only. */
  constructor(client, name, options) {
    /** The room's name. */
    this.name = name;
    /**
     * Last position seen in the room: `epoch` and `seq` of the last `joined` or `event` (in the
     * user's room also of a kept notification); before the first `joined`, the stored one.
     */
    this.epoch = null;
    this.seq = null;
    this._client = client;
    this._options = options;
    this._token = options.token;
    this._internal = false; // the inbox, joined by the client itself (not through join())
    this._joiningGen = 0; // connection generation a join was started on
    this._sentGen = 0; // connection generation a join frame was last sent on (answered or not)
    this._joinedGen = 0; // connection generation the room is joined on
    this._buffer = null; // live events that came before this connection's `joined`
    this._queue = []; // requests waiting until the room is joined
    this._retryTimer = null;
    this._retries = 0;
    this._gone = false;
    this._readySettled = false;
    /**
     * Resolves with the first `joined` frame; rejects with the `error` frame if the join is refused
     * for good, or on leave/close. Timeouts, `rate_limited` and `unavailable` are retried: it waits.
     */
    this.ready = new Promise((resolve, reject) => {
      this._resolveReady = resolve;
      this._rejectReady = reject;
    });
    this.ready.catch(noop); // a rejection nobody awaits is not an unhandled one
  }

  /** True while joined on the current connection. */
  get joined() {
    return !this._gone && this._joinedGen !== 0 && this._joinedGen === this._client._generation;
  }

  /**
   * Publishes an event to the room. Sent once the room is joined (waits if it is not yet).
   * @param {string} event
   * @param {*} [data]
   * @returns {Promise<{type:'ack', id:string, seq:number}>} rejects with the `error` frame, or with
   *   `{code:'disconnected'}` when the connection dropped before the answer (it may or may not have
   *   been published)
   */
  publish(event, data) {
    return this._publish(event, data, this._client._publishTimeoutMs);
  }

  /** @returns {Promise<Array<{userId:string, name:string|null, role:string|null, connections:number}>>} */
  presence() {
    return this._requestWhenJoined({ type: 'presence', room: this.name }, 'presence').then((f) => f.users || []);
  }

  /**
   * Leaves the room: no more events, no re-join. Never rejects.
   * @returns {Promise<object>} the engine's `left` (or `error`) answer, or a local `left` when not connected
   */
  leave() {
    if (this._gone) return Promise.resolve({ type: 'left', room: this.name });
    const client = this._client;
    // A join sent on this connection may have been applied even if its answer timed out: leave then too.
    const wasOnServer = client._isConnected()
      && (this._sentGen === client._generation || this._joiningGen === client._generation);
    this._terminate(errorFrame('left', 'the room was left'));
    client._forgetPosition(this); // a later join of the room starts afresh, not with what came meanwhile
    if (!wasOnServer) return Promise.resolve({ type: 'left', room: this.name });
    const stopLeaving = client._startLeaving(this.name);
    return new Promise((resolve) => {
      client._request({ type: 'leave', room: this.name }, (answer) => {
        stopLeaving();
        resolve(answer);
      }, () => resolve({ type: 'left', room: this.name }));
    });
  }

  // ---------------------------------------------------------------- internals

  /** A publish that rejects with `timeout` when it has no `ack` within `timeoutMs` (sent or not). */
  _publish(event, data, timeoutMs) {
    if (typeof event !== 'string' || event === '') {
      return Promise.reject(errorFrame('bad_request', 'publish: event must be a non-empty string'));
    }
    return this._requestWhenJoined({ type: 'publish', room: this.name, event, data: data === undefined ? null : data }, 'ack', timeoutMs);
  }

  /** True when this connection still needs a `join` of the room (not left, not sent, not joined). */
  _needsJoin() {
    const gen = this._client._generation;
    return !this._gone && this._client._isConnected() && this._joiningGen !== gen && this._joinedGen !== gen;
  }

  /** Sends `join` (with `since` when a position is known). Called by the client's join pacing only. */
  async _join() {
    const client = this._client;
    const gen = client._generation;
    if (!this._needsJoin()) return;
    this._joiningGen = gen;
    if (this._buffer === null) this._buffer = [];
    let token;
    if (this._token !== undefined && this._token !== null) {
      try {
        token = await resolveValue(this._token);
      } catch (err) {
        if (this._gone || gen !== client._generation) return;
        this._onJoinError(errorFrame('token_error', 'the room token function failed: ' + messageOf(err), { room: this.name, cause: err }));
        return;
      }
      if (this._gone || gen !== client._generation) return;
    }
    const frame = { type: 'join', room: this.name };
    const since = this.epoch !== null && this.seq !== null ? { epoch: this.epoch, seq: this.seq } : null;
    if (since) frame.since = since;
    if (token !== undefined && token !== null && token !== '') frame.token = String(token);
    this._sentGen = gen;
    client._request(frame, (answer) => {
      client._pumpJoins();
      if (this._gone || gen !== client._generation) return;
      if (answer.type === 'joined') this._onJoined(answer, since !== null);
      else this._onJoinError(answer);
    }, (err) => {
      // A dropped join is made again after the reconnect; one that timed out, on this connection.
      if (err.code === 'timeout' && !this._gone && gen === client._generation) this._onJoinError(err);
    });
  }

  _onJoined(frame, sentSince) {
    const client = this._client;
    this._joinedGen = client._generation;
    this._joiningGen = 0;
    this._retries = 0;
    const early = this._buffer || [];
    this._buffer = null;
    this._applyJoined(frame, sentSince);
    // A gap gives the socket up (re-joined later); an onEvent that left the room ends it here.
    if (!this._deliverLive(bySeq(early)) || this._gone) return;
    if (!this._readySettled) {
      this._readySettled = true;
      this._resolveReady(frame);
    }
    client._guard(() => call(this._options.onJoined, frame), 'onJoined');
    const queued = this._queue;
    this._queue = [];
    for (const job of queued) this._sendJob(job);
  }

  /** Takes the position of a `joined` answer: the missed events when recovered, else onReset (if it was a re-join). */
  _applyJoined(frame, sentSince) {
    const client = this._client;
    if (sentSince && frame.recovered === true) {
      // Missed frames are the room's events; in the user's room also its kept notifications.
      for (const evt of bySeq(frame.missed || [])) this._deliver(evt);
      if (frame.epoch !== undefined && frame.epoch !== this.epoch) {
        this.epoch = frame.epoch;
        this.seq = frame.seq;
      } else if (typeof frame.seq === 'number' && frame.seq > this.seq) {
        this.seq = frame.seq;
      }
    } else {
      this.epoch = frame.epoch ?? null;
      this.seq = typeof frame.seq === 'number' ? frame.seq : 0;
      if (sentSince) client._guard(() => call(this._options.onReset, frame), 'onReset');
    }
    client._positionMoved(this);
  }

  _onResetByEngine(frame) {
    this.epoch = frame.epoch ?? null;
    this.seq = typeof frame.seq === 'number' ? frame.seq : 0;
    this._client._positionMoved(this);
    this._client._guard(() => call(this._options.onReset, frame), 'onReset');
  }

  /**
   * A join answered with an error, or timed out. Timeouts, `rate_limited` and `unavailable` are
   * retried on this connection, also for the first join. Any other error ends a first join (`ready`
   * rejects); after that, permanent ones end the room and are emitted, the others are retried.
   */
  _onJoinError(frame) {
    const client = this._client;
    this._joiningGen = 0;
    // Live frames keep being held (the join may have been applied, and the user's room sends
    // without one): the retry's `joined` sorts them out, so none is lost while it waits.
    const err = Object.assign({}, frame, { room: this.name });
    const retried = RETRIED_JOIN_ERRORS.has(frame.code);
    if (!retried && (!this._readySettled || PERMANENT_JOIN_ERRORS.has(frame.code))) {
      const wasReady = this._readySettled;
      this._terminate(err);
      client._forgetPosition(this);
      if (wasReady) client._emit('error', err);
      return;
    }
    this._retryJoin(frame);
  }

  /**
   * Joins again on this connection after a jittered backoff, and for `rate_limited` not before the
   * engine's `retryAfterMs` (1 s when it gives none), jittered upward by up to a quarter; the join
   * then waits its turn in the client's pacing.
   */
  _retryJoin(frame) {
    const client = this._client;
    const cap = Math.min(client._maxMs, client._initialMs * 2 ** Math.min(this._retries++, 30));
    let delay = Math.max(50, Math.random() * cap);
    if (frame.code === 'rate_limited') {
      const after = frameRetryAfterMs(frame) || DEFAULT_RATE_LIMITED_RETRY_MS;
      delay = Math.max(delay, after * (1 + Math.random() / 4));
    }
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      client._queueJoin(this);
    }, Math.min(MAX_TIMER_MS, delay));
  }

  _onLiveEvent(evt) {
    if (this.joined) this._deliverLive([evt]);
    else if (this._buffer !== null) this._buffer.push(evt);
  }

  /**
   * Delivers live events (in order). One past the next `seq` of the same epoch means events were
   * lost on the way: the socket is given up like a drop, and the re-join's `since` (the last event
   * before the gap) lets recovery fill it. Returns false then.
   */
  _deliverLive(events) {
    for (const evt of events) {
      if (this._gone) return true; // left by an onEvent of this batch
      if (this._isGap(evt)) {
        this._onGap(evt);
        return false;
      }
      this._deliver(evt);
    }
    return true;
  }

  _isGap(evt) {
    const epoch = evt.epoch ?? this.epoch;
    return epoch === this.epoch && this.seq !== null && Number(evt.seq) > this.seq + 1;
  }

  _onGap(evt) {
    const client = this._client;
    const why = 'seq gap in ' + this.name + ': event ' + evt.seq + ' after ' + this.seq;
    client._abandon(client._ws, why);
    client._emitError('seq_gap', why + '; reconnecting to recover', { room: this.name, seq: this.seq, got: Number(evt.seq) });
  }

  /**
   * Hands one frame of the room on unless it was seen already (same epoch, seq not past the last):
   * an `event` to onEvent (a `notification.read` of the user's room also as `notification_read`), a
   * kept notification (the user's room numbers them with its events) to the `notification` listeners.
   */
  _deliver(evt) {
    if (this._gone) return; // left (an onEvent of a `missed` batch may leave): nothing more reaches the app
    const seq = Number(evt.seq);
    const epoch = evt.epoch ?? this.epoch;
    if (epoch === this.epoch && this.seq !== null && seq <= this.seq) return;
    this.epoch = epoch;
    this.seq = seq;
    const client = this._client;
    client._positionMoved(this);
    if (evt.type === 'notification') {
      client._emit('notification', evt);
      return;
    }
    client._guard(() => call(this._options.onEvent, evt), 'onEvent');
    if (this.name === client._inboxName()) client._emitRead(evt);
  }

  _onPresenceDiff(frame) {
    if (this._gone) return;
    this._client._guard(() => call(this._options.onPresence, frame), 'onPresence');
  }

  /**
   * The engine took the user out of the room (`left` with a reason, not asked for): `removed` by the
   * platform, or `revoked` when a refreshed access token no longer allows it (a course dropped from
   * `courses`). Either way joining again would be refused, so the room ends here, like a leave.
   */
  _onRemoved(frame) {
    const reason = frame.reason || 'removed';
    const message = reason === 'revoked' ? 'the refreshed access token no longer allows the room' : 'removed from the room';
    this._terminate(Object.assign(errorFrame(reason, message), { room: this.name }));
    this._client._forgetPosition(this);
    this._client._guard(() => call(this._options.onLeft, frame), 'onLeft');
  }

  _onDisconnected() {
    this._joiningGen = 0;
    this._joinedGen = 0;
    this._buffer = null;
    if (this._retryTimer !== null) clearTimeout(this._retryTimer);
    this._retryTimer = null;
  }

  /** The room is done for: untracked, waiting requests and an unsettled `ready` rejected with `err`. */
  _terminate(err) {
    this._gone = true;
    this._onDisconnected();
    if (this._client._rooms.get(this.name) === this) this._client._rooms.delete(this.name);
    if (!this._readySettled) {
      this._readySettled = true;
      this._rejectReady(err);
    }
    const queued = this._queue;
    this._queue = [];
    for (const job of queued) job.reject(err);
  }

  /**
   * Sends the request once the room is joined. With `timeoutMs`, it rejects with `timeout` when no
   * answer came that long after the call: taken out of the queue if it still waits, forgotten by
   * the client if it was sent (a late answer is then ignored).
   */
  _requestWhenJoined(frame, expected, timeoutMs = 0) {
    if (this._gone) return Promise.reject(errorFrame('not_joined', 'the room was left', { room: this.name }));
    return new Promise((resolve, reject) => {
      const job = timeoutMs > 0 ? deadlineJob(resolve, reject, timeoutMs, (j) => this._expire(j, timeoutMs)) : { resolve, reject };
      job.frame = frame;
      job.expected = expected;
      job.id = null;
      if (this.joined) this._sendJob(job);
      else if (this._queue.length >= MAX_QUEUED_PER_ROOM) {
        job.reject(errorFrame('queue_full', 'too many requests waiting for the room to be joined', { room: this.name }));
      } else this._queue.push(job);
    });
  }

  _expire(job, timeoutMs) {
    const waiting = this._queue.indexOf(job);
    if (waiting >= 0) this._queue.splice(waiting, 1);
    if (job.id === null) {
      job.reject(publishTimeout(timeoutMs, 'the room was not joined (client ' + this._client.state + ')', { room: this.name }));
      return;
    }
    this._client._forgetRequest(job.id);
    job.reject(publishTimeout(timeoutMs, null, { room: this.name, id: job.id }));
  }

  _sendJob(job) {
    job.id = this._client._request(job.frame, (answer) => {
      if (answer.type === job.expected) job.resolve(answer);
      else if (answer.type === 'error') job.reject(answer);
      else job.reject(errorFrame('unexpected_answer', 'expected ' + job.expected + ', got ' + answer.type, { answer }));
    }, job.reject);
  }
}

/**
 * A promise's `resolve` and `reject` that also clear a deadline: after `ms`, `expire(job)` is called
 * (which settles it). No timer outlives the settling.
 */
function deadlineJob(resolve, reject, ms, expire) {
  const job = {};
  const timer = setTimeout(() => expire(job), ms);
  job.resolve = (v) => {
    clearTimeout(timer);
    resolve(v);
  };
  job.reject = (e) => {
    clearTimeout(timer);
    reject(e);
  };
  return job;
}

/**
 * The `timeout` of a publish (`publishTimeoutMs`): `sent` says whether it went out (then it may or
 * may not have been applied) or never left the client (`notSent` says why).
 */
function publishTimeout(ms, notSent, extra) {
  const message = notSent === null
    ? 'no ack within ' + ms + ' ms of the publish'
    : 'the publish was not sent within ' + ms + ' ms: ' + notSent;
  return errorFrame('timeout', message, Object.assign({ timeoutMs: ms, sent: notSent === null }, extra));
}

function call(fn, arg) {
  if (typeof fn === 'function') fn(arg);
}

function bySeq(events) {
  return events.filter((e) => e && typeof e === 'object').sort((a, b) => Number(a.seq) - Number(b.seq));
}

function messageOf(err) {
  return err && err.message ? err.message : String(err);
}

function detach(ws) {
  ws.onopen = noop;
  ws.onmessage = noop;
  ws.onclose = noop;
  ws.onerror = noop; // stays a function: some Node implementations throw on an unheard 'error'
}

function closeQuietly(ws, code, reason) {
  detach(ws);
  try {
    if (ws.readyState === SOCKET_OPEN || ws.readyState === 0) ws.close(code, String(reason).slice(0, 100));
  } catch {
    // closing a socket we gave up on can only fail in ways that no longer matter
  }
}

/** True unless a `document` says the page is hidden (always true outside browsers). */
function pageVisible() {
  const doc = globalThis.document;
  return !doc || doc.visibilityState === undefined || doc.visibilityState === 'visible';
}

/**
 * Throws `err` again in a microtask of its own, where nothing of the client is on the stack: the
 * platform reports it as uncaught, as it would an exception of any event listener of the page
 * (`window.onerror` and the `error` event in a browser, `'uncaughtException'` in Node).
 */
function rethrowLater(err) {
  queueMicrotask(() => {
    throw err;
  });
}

// ------------------------------------------------------------------ the HTTP fallback (contract §10)

/**
 * The HTTP fallback's URL beside the engine's WebSocket URL: `ws(s):` becomes `http(s):`, and a path
 * that ends in `/ws` ends in `/sse` instead (`wss://host/realtime/ws` → `https://host/realtime/sse`);
 * other paths get `/sse` appended. Null when the URL cannot be made absolute (Node, a relative URL).
 * @returns {URL|null}
 */
function fallbackUrl(url) {
  try {
    const u = new URL(socketUrl(url));
    u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
    u.pathname = u.pathname.replace(/\/ws\/?$/, '').replace(/\/$/, '') + '/sse';
    u.hash = '';
    return u;
  } catch {
    return null;
  }
}

/** The `Retry-After` of an answer in ms (seconds in the header), or 0. */
function retryAfterHeaderMs(res) {
  const n = Number(res.headers.get('retry-after'));
  return Number.isFinite(n) && n > 0 ? n * 1000 : 0;
}

/** An answer's body as text, '' when it cannot be read; reading it also frees the connection. */
async function bodyText(res) {
  try {
    return await res.text();
  } catch {
    return '';
  }
}

/** `error: message` of an engine's JSON error body (`{"error","message"}`), else the body's start. */
function errorSummary(text) {
  try {
    const b = JSON.parse(text);
    if (b && typeof b.error === 'string') return b.error + (typeof b.message === 'string' ? ': ' + b.message : '');
  } catch {
    // not the engine's JSON: a proxy's page, say
  }
  return text.slice(0, 100);
}

/**
 * One connection over the HTTP fallback, shaped like a WebSocket for the client (`readyState`,
 * `send`, `close`, `onmessage`, `onclose`), so that heartbeat, requests, recovery and refresh run on
 * it unchanged. Frames from the engine come on an event stream (`'sse'`: `GET /sse`, one `data:` line
 * of JSON per frame) or as the JSON arrays of long polls (`'long-poll'`: `GET /sse?mode=poll`, then
 * each `Lms-Poll-Url` in turn, one poll at a time). It opens (readyState 1) with the `welcome`, whose
 * `postUrl` and `postToken` take the client's frames: one POST at a time, so they are applied in the
 * order they were sent; frames sent meanwhile go together in the next one, as a JSON array.
 *
 * `onmessage` gets `{data, frame}` (the frame parsed already); `onclose` gets `{code, reason,
 * message, fallback}`: `code` and `reason` of the engine's last `close` event, or 1006 when the
 * stream or the polls ended without one, or null when the engine refused the request (`message`
 * says what it answered; a 429's `Retry-After` comes as `reason` `{"retryAfterMs": N}`, as in a close
 * reason). `fallback` is true when what happened looks like a proxy in the way (nothing came, or the
 * stream ended before the `welcome`): then the next transport may do better. `close()` ends it
 * without an `onclose`.
 */
class HttpLink {
  /**
   * @param {'sse'|'long-poll'} kind
   * @param {URL} url the `/sse` URL (with `mode=poll` for long polls)
   * @param {string|null|undefined} token the access token (in `Authorization`); none: the cookie
   * @param {typeof fetch} fetchFn
   */
  constructor(kind, url, token, fetchFn) {
    this.kind = kind;
    this.url = url.href;
    this.readyState = 0;
    this.onopen = noop;
    this.onmessage = noop;
    this.onclose = noop;
    this.onerror = noop;
    this._fetch = fetchFn;
    this._abort = new AbortController();
    this._pollAbort = null;
    this._timer = null;
    this._postUrl = null;
    this._postToken = null;
    this._pollUrl = null;
    /** @type {string[]} frames waiting for the next POST */
    this._out = [];
    this._posting = false;
    this._open(token);
  }

  send(text) {
    if (this.readyState !== SOCKET_OPEN) throw new Error('the ' + this.kind + ' connection is not open');
    this._out.push(String(text));
    this._pumpPosts();
  }

  close() {
    this._end();
  }

  // ---------------------------------------------------------------- internals

  _end() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this._out = [];
    if (this._timer !== null) clearTimeout(this._timer);
    this._timer = null;
    this._abort.abort();
    if (this._pollAbort !== null) this._pollAbort.abort();
  }

  /** Ends the connection and tells the client why (see the class). */
  _fail(code, reason, message, fallback) {
    if (this.readyState === 3) return;
    this._end();
    this.onclose({ code, reason, message, fallback });
  }

  /** A promise settled after `ms` (never, when the connection ends first: its timer is cleared). */
  _wait(ms) {
    return new Promise((resolve) => {
      this._timer = setTimeout(() => {
        this._timer = null;
        resolve();
      }, ms);
    });
  }

  /** `GET /sse` (or `?mode=poll`): the handshake of contract §2, with the token in `Authorization`. */
  async _open(token) {
    const what = 'GET ' + (this.kind === 'sse' ? '/sse' : '/sse?mode=poll');
    const headers = {};
    const hasToken = token !== undefined && token !== null && token !== '';
    if (hasToken) headers.Authorization = 'Bearer ' + token;
    let res;
    try {
      // Without a token only a cookie can authenticate: send it, cross-site too, as a WebSocket would.
      res = await this._fetch(this.url, { headers, credentials: hasToken ? 'same-origin' : 'include', cache: 'no-store',
        signal: this._abort.signal });
    } catch (err) {
      this._fail(null, '', what + ' failed: ' + messageOf(err), false);
      return;
    }
    if (this.readyState === 3) return;
    if (res.status !== 200) {
      const text = await bodyText(res);
      const after = retryAfterHeaderMs(res);
      this._fail(null, after > 0 ? JSON.stringify({ retryAfterMs: after }) : '', what + ' answered ' + res.status + ' ' + errorSummary(text), false);
      return;
    }
    if (this.kind === 'sse') this._readStream(res);
    else if (await this._takePoll(res)) this._pollLoop();
  }

  /** Reads the event stream: `data:` lines make an event, a blank line ends it, `:` lines are comments. */
  async _readStream(res) {
    const type = res.headers.get('content-type') || '';
    if (!/^text\/event-stream/i.test(type) || !res.body) {
      await bodyText(res);
      this._fail(null, '', 'GET /sse answered 200 with ' + (type || 'no content type') + ', not an event stream', false);
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let data = null;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (this.readyState === 3) return;
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          let line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line.endsWith('\r')) line = line.slice(0, -1);
          if (line === '') {
            if (data !== null && !this._frame(data)) return;
            data = null;
          } else if (line.startsWith('data:')) {
            const v = line.charAt(5) === ' ' ? line.slice(6) : line.slice(5);
            data = data === null ? v : data + '\n' + v;
          }
          // comments (the engine's keep-alives), `event:`, `id:`, `retry:`: nothing for the client
        }
      }
    } catch (err) {
      this._fail(1006, '', 'the event stream failed: ' + messageOf(err), this.readyState === 0);
      return;
    }
    this._fail(1006, '', 'the event stream ended', this.readyState === 0);
  }

  /**
   * One frame's JSON from the engine: handed on; a `welcome` opens the connection (its `postUrl`,
   * taken against the `/sse` URL, and `postToken`); a `close` ends it. False when it has ended.
   */
  _frame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      this.onmessage({ data: text });
      return this.readyState !== 3;
    }
    if (frame !== null && typeof frame === 'object' && frame.type === 'close') {
      const code = Number.isInteger(frame.code) ? frame.code : 1006;
      this._fail(code, typeof frame.reason === 'string' ? frame.reason : '', null, false);
      return false;
    }
    if (this.readyState === 0 && frame !== null && typeof frame === 'object' && frame.type === 'welcome') {
      if (typeof frame.postUrl !== 'string' || typeof frame.postToken !== 'string') {
        this._fail(null, '', 'the welcome has no postUrl and postToken (an engine without the HTTP fallback?)', false);
        return false;
      }
      this._postUrl = new URL(frame.postUrl, this.url).href;
      this._postToken = frame.postToken;
      this.readyState = SOCKET_OPEN;
    }
    this.onmessage({ data: text, frame });
    return this.readyState !== 3;
  }

  /** A long poll's answer: its frames, in order, and the URL of the next poll. False when the connection ended. */
  async _takePoll(res) {
    const next = res.headers.get('lms-poll-url');
    const text = await bodyText(res);
    if (this.readyState === 3) return false;
    let frames;
    try {
      frames = JSON.parse(text);
    } catch {
      frames = null;
    }
    if (!Array.isArray(frames) || !next) {
      this._fail(null, '', 'a long poll was answered without ' + (next ? 'a JSON array of frames' : 'Lms-Poll-Url'), false);
      return false;
    }
    this._pollUrl = new URL(next, this.url).href;
    for (const f of frames) {
      if (!this._frame(JSON.stringify(f))) return false;
    }
    return true;
  }

  /** Polls until the connection ends; a poll lost on the network is made again (the same position). */
  async _pollLoop() {
    let failures = 0;
    while (this.readyState !== 3) {
      const abort = new AbortController();
      this._pollAbort = abort;
      const timer = setTimeout(() => abort.abort(), POLL_TIMEOUT_MS);
      let res;
      try {
        res = await this._fetch(this._pollUrl, { cache: 'no-store', credentials: 'same-origin', signal: abort.signal });
      } catch (err) {
        if (this.readyState === 3) return;
        if (++failures > POLL_RETRIES) {
          this._fail(1006, '', 'the long poll failed ' + failures + ' times: ' + messageOf(err), false);
          return;
        }
        await this._wait(POLL_RETRY_MS * failures);
        continue;
      } finally {
        clearTimeout(timer);
        this._pollAbort = null;
      }
      if (this.readyState === 3) return;
      if (res.status !== 200) {
        const text = await bodyText(res);
        // 404: the connection ended on the engine (and its close event was lost with an answer).
        this._fail(1006, '', 'a long poll was answered ' + res.status + ' ' + errorSummary(text), false);
        return;
      }
      failures = 0;
      if (!(await this._takePoll(res))) return;
    }
  }

  /**
   * Sends what waits, one POST at a time (so the engine applies the frames in order): one frame as
   * it is, more as a JSON array. A 429 (the engine has not applied the POSTs before yet, and took
   * nothing of this one) is sent again after its `Retry-After`. Any other failure ends the
   * connection: a POST lost on the network may or may not have been applied, as a frame on a socket
   * that broke, and the client's reconnect sorts that out (requests rejected, rooms re-joined).
   */
  async _pumpPosts() {
    if (this._posting || this.readyState !== SOCKET_OPEN || this._out.length === 0) return;
    this._posting = true;
    let n = 0;
    let bytes = 2;
    while (n < this._out.length && (n === 0 || bytes + this._out[n].length + 1 <= MAX_POST_BATCH_BYTES)) bytes += this._out[n++].length + 1;
    const batch = this._out.splice(0, n);
    const body = batch.length === 1 ? batch[0] : '[' + batch.join(',') + ']';
    try {
      for (;;) {
        const res = await this._fetch(this._postUrl, {
          method: 'POST',
          headers: { Authorization: 'Bearer ' + this._postToken, 'Content-Type': 'application/json' },
          body,
          cache: 'no-store',
          credentials: 'same-origin',
          signal: this._abort.signal,
        });
        const text = await bodyText(res);
        if (this.readyState === 3) return;
        if (res.status === 429) {
          await this._wait(retryAfterHeaderMs(res) || DEFAULT_POST_RETRY_MS);
          continue;
        }
        if (res.status >= 200 && res.status < 300) break;
        this._fail(1006, '', 'POST ' + new URL(this._postUrl).pathname + ' answered ' + res.status + ' ' + errorSummary(text), false);
        return;
      }
    } catch (err) {
      this._fail(1006, '', 'a POST of frames failed: ' + messageOf(err), false);
      return;
    }
    this._posting = false;
    this._pumpPosts();
  }
}

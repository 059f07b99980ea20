// Types of the lms-realtime browser client (wire contract version 1, §8, and the inbox of 1.1, §9).

/** A value, or a function giving it (possibly through a promise); functions are called again before every (re)connect or re-join. */
export type TokenSource = string | (() => string | Promise<string>);

export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/**
 * What carries a connection (contract §10): a WebSocket; the HTTP fallback's event stream
 * (`GET /sse`, frames out as POSTs); its long polls (`GET /sse?mode=poll`).
 */
export type Transport = 'websocket' | 'sse' | 'long-poll';

/** The part of `fetch` the HTTP fallback uses: the DOM's and Node's (18+) both fit. */
export type FetchLike = (input: string, init?: any) => Promise<unknown>;

export interface RealtimeClientOptions {
  /** The engine's WebSocket URL, e.g. `wss://host/ws`. `http(s):` and page-relative URLs are accepted too. */
  url: string;
  /**
   * Access token (JWT), sent as the `token` query parameter. Omit it to rely on a same-site
   * `access_token` cookie. A function is called before every (re)connect, and ahead of the token's
   * expiry for the in-band refresh (see `refresh`).
   */
  token?: TokenSource;
  /** WebSocket class to use; default `globalThis.WebSocket` (pass the `ws` package's class in Node). */
  WebSocket?: WebSocketClass;
  /** Use this heartbeat interval when it is shorter than the engine's (`welcome.heartbeatSeconds`). */
  heartbeatSeconds?: number;
  /** Reconnect backoff: attempt n waits random(0, min(maxMs, initialMs * 2^n)). */
  backoff?: {
    /** Default 500. */
    initialMs?: number;
    /** Default 20000. */
    maxMs?: number;
    /** A connection that got `welcome` and stayed up this long resets n to 0. Default 2000. */
    resetAfterMs?: number;
    /**
     * The first reconnect after a connection that was up ends like a crash (close 1006, 1011, 1012,
     * 1013, or a socket the client gave up: no pong, a `seq` gap) waits at least this, jittered
     * upward to twice this, whatever `initialMs` says. Default 1000; 0 turns the floor off.
     */
    minCrashRetryMs?: number;
  };
  /** A socket without `welcome` after this long is given up and retried. Default 15000. */
  connectTimeoutMs?: number;
  /**
   * A request (`join`, `leave`, `publish`, `presence`) sent and not answered within this rejects
   * with an {@link ErrorFrame} of code `'timeout'` (a `join` is retried instead, a `leave` resolves);
   * an answer that comes later is ignored. Counted from the send, not while a request waits for its
   * room. Default 10000.
   */
  requestTimeoutMs?: number;
  /**
   * A `publish` (and `markRead`) without its `ack` this long after the call rejects with an
   * {@link ErrorFrame} of code `'timeout'`, whether it was sent (`sent: true`: it may or may not have
   * been applied) or still waited for its room to be joined, offline or reconnecting (`sent: false`:
   * it never left the client and never will). Counted from the call, unlike `requestTimeoutMs`;
   * whichever comes first applies. Default 10000.
   */
  publishTimeoutMs?: number;
  /**
   * Joins sent at once after `welcome` (the re-joins of a reconnect, and joins made meanwhile);
   * the others follow at `rejoinPerSecond`. Default 20, half the engine's default burst (40).
   */
  rejoinBurst?: number;
  /** Joins per second after the burst. Default 10, half the engine's default rate (20 frames a second). */
  rejoinPerSecond?: number;
  /**
   * Where the last position (`epoch`, `seq`) of each joined room and of the inbox (`user:<me>`) is
   * kept, under `lms-realtime:<url>:<userId>:<room>`, so that a new client (a reloaded page, a tab
   * opened the next morning) joins with `since` and recovers instead of starting afresh. Default
   * `globalThis.localStorage`, or an in-memory store shared by the clients of the page when there
   * is none; `null`: positions are kept in this client object only.
   */
  storage?: StorageLike | null;
  /**
   * Positions are written at most this often (and at once on `pagehide`, when the page is hidden,
   * after a drop and on `close()`). Default 1000.
   */
  storageFlushMs?: number;
  /**
   * In-band token refresh (contract 1.1): ahead of the access token's `exp` the client calls `token`
   * again and sends the new token in a `refresh` frame, so the socket lives on without a reconnect.
   * Needs `token` to be a function and its tokens to be JWTs (the client reads their `exp`, and
   * `iat` when present, without verifying them). A refresh the engine refuses, or does not answer,
   * reconnects with a fresh token; a token function that fails is tried again, a last time shortly
   * before the expiry, then the client reconnects before the engine's 4001. `false`: never (the engine closes the socket with 4001 at the
   * token's expiry and the client reconnects, as before). Default true.
   */
  refresh?: boolean;
  /**
   * How long before the token's expiry the refresh is made: this, or a fifth of the token's lifetime
   * when that is less, plus a random jitter of up to half of it (so that a class whose tokens were
   * minted together does not refresh in the same second). Default 60000.
   */
  refreshMarginMs?: number;
  /**
   * The transports the client may use, tried in this order whatever order is given: a WebSocket
   * first; where the upgrade fails (a proxy refuses or breaks it) or gives no `welcome` within
   * `fallbackAfterMs`, `GET /sse`; where no event comes on that stream within `fallbackAfterMs`
   * (a proxy that buffers it), long polls. Default: all three, less those the environment cannot
   * carry (no WebSocket class; no `fetch`, or a URL that cannot be made absolute). `['websocket']`:
   * never fall back.
   */
  transports?: Transport[];
  /** A transport without `welcome` after this long is taken as blocked and the next one tried. Default 4000. */
  fallbackAfterMs?: number;
  /**
   * Once a fallback worked, the page's connections (this client's reconnects, and clients made later
   * for the same `url`) start on it; a reconnect this long after the WebSocket last failed tries the
   * WebSocket first again. Default 300000 (5 minutes); 0: every reconnect tries it first.
   */
  webSocketRetryMs?: number;
  /** `fetch` for the HTTP fallback; default `globalThis.fetch`. */
  fetch?: FetchLike;
}

/** The part of the Web Storage interface (`localStorage`) the client uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * The part of the WebSocket interface the client uses. The handlers' events are typed `any` on
 * purpose: each implementation has its own event classes (the DOM's `MessageEvent`, `CloseEvent`;
 * the `ws` package's `WebSocket.MessageEvent`...), and a handler property of a narrower type would
 * make those classes unassignable here. The client reads `data` of a message, `code` and `reason` of
 * a close.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
}

/**
 * A WebSocket class: constructed with the URL only. The DOM's `WebSocket` and the `ws` package's
 * class (whose first overload takes `null`; a later one takes the URL) both fit.
 */
export type WebSocketClass = new (url: string) => WebSocketLike;

export interface WelcomeFrame {
  type: 'welcome';
  connectionId: string;
  userId: string;
  heartbeatSeconds: number;
}

export interface EventFrame<D = unknown> {
  type: 'event';
  room: string;
  seq: number;
  epoch: string;
  event: string;
  data: D;
  /** User id of the publisher, or `"backend"`. */
  from: string;
  /** Milliseconds since the Unix epoch. */
  ts: number;
}

export interface JoinedFrame {
  type: 'joined';
  id?: string;
  room: string;
  epoch: string;
  /** Last sequence number in the room. */
  seq: number;
  /** Present when the join carried `since`. */
  recovered?: boolean;
  /**
   * Present when `recovered` is true: the frames missed, oldest first, each as it was sent live. In
   * the `user:` room (contract 1.1) the kept notifications are numbered with the events, so `missed`
   * holds both kinds there.
   */
  missed?: Array<EventFrame | NotificationFrame>;
}

export interface LeftFrame {
  type: 'left';
  id?: string;
  room: string;
  /**
   * On a `left` the client did not ask for: `"removed"` when the platform took the user out of the
   * room, `"revoked"` when a refreshed access token no longer allows it. Either ends the {@link Room}.
   */
  reason?: 'removed' | 'revoked' | (string & {});
}

export interface AckFrame {
  type: 'ack';
  id: string;
  seq: number;
}

export interface PresenceUser {
  userId: string;
  name: string | null;
  role: string | null;
  connections: number;
}

export interface PresenceDiffFrame {
  type: 'presence_diff';
  room: string;
  joined: PresenceUser[];
  /** User ids. */
  left: string[];
}

export interface NotificationFrame<D = unknown> {
  type: 'notification';
  event: string;
  data: D;
  ts: number;
  /**
   * A notification kept in the user's stream (contract 1.1, the default) is numbered in the
   * `user:<me>` room: `room`, `seq` and `epoch` are set. One sent with `"durable": false` has none.
   */
  room?: string;
  seq?: number;
  epoch?: string;
}

/** A device of the user marked a notification read (the event `notification.read` of `user:<me>`). */
export interface NotificationReadEvent {
  /** The `seq` of the notification marked read. */
  seq: number;
  /** The user id of the device's user (the event's `from`). */
  from: string;
  ts: number;
  /** The `event` frame itself. */
  frame: EventFrame<{ seq: number }>;
}

/**
 * An `error` frame of the engine (`bad_request`, `forbidden`, `not_joined`, `rate_limited`,
 * `too_large`, `unknown_type`, `unavailable`...) or one the client makes itself with the same shape:
 * `disconnected` (the connection dropped before the answer), `timeout` (no answer within
 * `requestTimeoutMs`), `closed` (`close()` was called), `left`/`not_joined` (the room was left),
 * `removed`, `queue_full`, `token_error`, `connect_failed`, `handler_error`, `bad_frame`,
 * `send_failed`, `unexpected_answer`, `seq_gap` (events of a room were lost on the way: the client
 * reconnects to recover them), `storage_error` (the position storage threw; reported once),
 * `refresh_failed` (the engine refused a token refresh, or did not answer it: the client reconnects
 * with a fresh token; `cause` holds the engine's `error` frame or the `timeout`), `revoked` (on the
 * pending requests and `ready` of a room that a refreshed token no longer allows).
 */
export interface ErrorFrame {
  type: 'error';
  /** The request's id, on its answer and on `disconnected` and `timeout`. */
  id?: string;
  code: string;
  message: string;
  /** The room concerned, on errors about a room. */
  room?: string;
  /** The engine's advice (for instance on `rate_limited`): wait this long; no reconnect comes sooner. */
  retryAfterMs?: number;
  /** On `timeout`: the `requestTimeoutMs` (or, for a publish, `publishTimeoutMs`) that passed. */
  timeoutMs?: number;
  /** On the `timeout` of a publish (`publishTimeoutMs`): whether it had been sent. */
  sent?: boolean;
  /** On `seq_gap`: the last `seq` seen before the gap (the re-join's `since`), and the one that came. */
  seq?: number;
  got?: number;
  /** The WebSocket close code, on `disconnected` and `connect_failed`. */
  closeCode?: number;
  /** The exception behind `handler_error`, `token_error`, `connect_failed`; the engine's answer behind `refresh_failed`. */
  cause?: unknown;
}

/** Options of one room; `T` is the shape of its events' `data` (unknown unless said). */
export interface JoinOptions<T = unknown> {
  /** Room token (`live:` rooms, §4); a function is called again before every re-join. */
  token?: TokenSource;
  /** Every event of the room in `seq` order, missed ones after a reconnect included; never twice. */
  onEvent?: (event: EventFrame<T>) => void;
  /** Every `presence_diff` of the room (sent to those who may query its presence). */
  onPresence?: (diff: PresenceDiffFrame) => void;
  /**
   * The engine could not give the missed events (`recovered: false`): reload the room's state. After
   * a reconnect, or on the first join when a stored position was used (a reload) and is too old.
   */
  onReset?: (joined: JoinedFrame) => void;
  /** Every `joined` answer, the first and each one after a reconnect. */
  onJoined?: (joined: JoinedFrame) => void;
  /**
   * The engine took the user out of the room (`left` with a `reason`: `removed` by the platform,
   * `revoked` by a refreshed token); the room has ended and is not re-joined.
   */
  onLeft?: (left: LeftFrame) => void;
}

export interface Room {
  readonly name: string;
  /**
   * Resolves with the first `joined`. Rejects with the `error` frame if that join is refused for
   * good (`forbidden`, `bad_request`...), with `left` after `leave()` and `closed` after `close()`.
   * A join that times out or is refused with `rate_limited`/`unavailable` is retried: `ready` waits.
   */
  readonly ready: Promise<JoinedFrame>;
  /** Last position seen (from `joined` and every event), or the stored one; null when none is known. */
  readonly epoch: string | null;
  readonly seq: number | null;
  /** True while joined on the current connection. */
  readonly joined: boolean;
  /**
   * Sent once the room is joined. Resolves with the `ack`; rejects with the `error` frame,
   * `disconnected`, or `timeout` (no `ack` within `publishTimeoutMs` of the call, sent or not).
   */
  publish(event: string, data?: unknown): Promise<AckFrame>;
  /** The room's users (instructors of courses, instructors of live rooms, the user of a `user:` room, admins). */
  presence(): Promise<PresenceUser[]>;
  /**
   * Leaves for good. From the call on, nothing of the room reaches the app: no `onEvent`,
   * `onPresence` or `onJoined`, and the events the engine sent before it took the leave do not reach
   * `on('event')` either. Never rejects (no answer within `requestTimeoutMs`: resolves with a local `left`).
   */
  leave(): Promise<LeftFrame | ErrorFrame>;
}

export interface RealtimeClientEvents {
  state: ConnectionState;
  welcome: WelcomeFrame;
  /**
   * Kept notifications in `seq` order and never twice, the ones missed while away included (then
   * after the reconnect's or reload's inbox join); not kept ones (no `seq`) as they come.
   */
  notification: NotificationFrame;
  /** A device of the user (this one included) marked a notification read; also from a recovery. */
  notification_read: NotificationReadEvent;
  /**
   * Error frames not tied to a request, and the client's own problems. An exception thrown by one
   * of your callbacks comes here as `handler_error`; with no `error` listener it is thrown again
   * outside the client (a microtask), uncaught: `window.onerror` in a browser, `uncaughtException`
   * in Node. The client goes on either way.
   */
  error: ErrorFrame;
  /** Events of rooms not joined through `join()` (for instance the automatically joined `user:` room). */
  event: EventFrame;
  /** The engine took a new access token in-band (`refreshed`): the socket now lasts until `exp`. */
  refreshed: RefreshedEvent;
  /**
   * A connection, or an attempt, ended other than by `close()`: why, and when the client tries
   * again. Comes right after `state` turns `'disconnected'`.
   */
  disconnected: DisconnectedEvent;
  /** A transport did not get through before its `welcome` (why in `message`): the client tries the next one. */
  fallback: FallbackEvent;
}

/** One step down the transports within an attempt. */
export interface FallbackEvent {
  from: Transport;
  to: Transport;
  /** What made the client give `from` up: `no welcome within 4000 ms`, a close before `welcome`... */
  message: string;
}

/** Why a connection (or an attempt) ended, and when the next attempt is due. */
export interface DisconnectedEvent {
  /**
   * The close code (over the HTTP fallback, that of the engine's last `close` event, or 1006 when
   * the stream or the polls ended without one): the engine's (`4001` token expired, `4002` heartbeat missed, `4008`
   * slow consumer, `4029` rate limited, `1012` restarting...) or the browser's (`1006`: no close
   * frame, also a refused handshake). `null` when the client gave the socket up itself (no pong, a
   * `seq` gap, no `welcome` in time, a refresh refused) or could not open one (the token function failed).
   */
  code: number | null;
  /** The close frame's reason as the engine sent it (`''` when none, and when `code` is null). */
  reason: string;
  /** The engine's advice parsed from `reason` (`{"retryAfterMs": N}`), else 0. No reconnect comes sooner. */
  retryAfterMs: number;
  /** A readable account: `socket closed (4029 {"retryAfterMs":1200})`, `no pong within 25 s`... */
  message: string;
  /** True when the connection had got `welcome` (it was `connected`); false for a failed attempt. */
  welcomed: boolean;
  /** In how many ms the next attempt is made (the backoff, not below any `retryAfterMs`); null when none is armed. */
  reconnectInMs: number | null;
}

/** A token refresh the engine accepted. */
export interface RefreshedEvent {
  /** The new token's expiry, seconds since the Unix epoch: the socket's deadline now. */
  exp: number;
}

export declare class RealtimeClient {
  /** Starts connecting at once (in a microtask). */
  constructor(options: RealtimeClientOptions);
  readonly url: string;
  readonly state: ConnectionState;
  /** Connection attempts after the first one, since construction. */
  readonly reconnectAttempts: number;
  /** From the last `welcome`. */
  readonly connectionId: string | null;
  readonly userId: string | null;
  /** The heartbeat interval in use. */
  readonly heartbeatSeconds: number | null;
  /**
   * `exp` (seconds since the epoch) of the access token the connection runs on: the one it connected
   * with (when it is a JWT), then each `refreshed`'s; null when unknown.
   */
  readonly tokenExp: number | null;
  /**
   * What carries the connection, or, while connecting, the transport being tried; null before the
   * first attempt. Over `'sse'` and `'long-poll'` everything works as over a WebSocket: recovery,
   * refresh, the inbox, stored positions, the heartbeat (a `ping` is POSTed).
   */
  readonly transport: Transport | null;
  /**
   * Returns a function that removes the listener. A listener for `notification`,
   * `notification_read` or `event` makes the client follow the inbox: it joins `user:<me>` on every
   * connect (with `since` once a position is known) so that what came meanwhile is handed over.
   */
  on<K extends keyof RealtimeClientEvents>(event: K, fn: (arg: RealtimeClientEvents[K]) => void): () => void;
  off<K extends keyof RealtimeClientEvents>(event: K, fn: (arg: RealtimeClientEvents[K]) => void): void;
  /** Joins now or once connected, and again after every reconnect. Joining a joined room returns the same Room. */
  join<T = unknown>(room: string, options?: JoinOptions<T>): Room;
  /**
   * Marks a notification read on all the user's devices: publishes `notification.read` with
   * `{seq}` into `user:<me>` (sent once the inbox is joined; before the first `welcome` it waits for
   * it). Every device, this one included, hears it as `notification_read`. Rejects like
   * `Room.publish` (`timeout` after `publishTimeoutMs`, the wait for `welcome` included), and with
   * `bad_request` for a `seq` that is not a positive integer.
   */
  markRead(seq: number): Promise<AckFrame>;
  /** Writes the last positions to the storage, then closes with 1000; no more reconnects; pending requests reject with `closed`. */
  close(): void;
}

// A small consumer of the package's types, compiled with `tsc --strict` by test/types.test.mjs:
// what a TypeScript app writes against @lms-realtime/client must type-check, and what it must not
// write must not (the @ts-expect-error lines fail the compile if they ever stop being errors).
import { RealtimeClient, type ErrorFrame, type EventFrame, type JoinedFrame } from '../../lms-realtime.js';

interface Lesson {
  title: string;
  minutes: number;
}

const client = new RealtimeClient({ url: 'wss://engine.example/ws', token: async () => 'jwt' });

// issue 15: a handler typed with the event's data shape
const room = client.join<Lesson>('course:42', {
  onEvent: (e: EventFrame<Lesson>) => {
    const upper: string = e.data.title.toUpperCase();
    const total: number = e.data.minutes + e.seq;
    void upper;
    void total;
  },
  onReset: (j: JoinedFrame) => void j.epoch,
});

// inferred from the handler, without the type argument
client.join('course:43', {
  onEvent: (e: EventFrame<{ progress: number }>) => void e.data.progress.toFixed(1),
});

// unknown data must be narrowed before use
client.join('course:44', {
  onEvent: (e) => {
    // @ts-expect-error data is unknown unless the join says what it is
    void e.data.title;
  },
});

void room.ready.then((j) => j.seq);

// issue 22: why a connection ended, and the publish deadline
client.on('disconnected', (d) => {
  const code: number | null = d.code;
  const advice: number = d.retryAfterMs;
  const next: number | null = d.reconnectInMs;
  void [code, advice, next, d.reason.length, d.message, d.welcomed];
});
new RealtimeClient({ url: 'wss://engine.example/ws', publishTimeoutMs: 5000 }).close();
room.publish('hand_raised', {}).catch((e: ErrorFrame) => void (e.code === 'timeout' && e.sent));
client.on('notification', (n) => void n.event);
void client.markRead(3);
client.close();

// issue 22: the DOM's own WebSocket class may be passed (the `ws` package's: node-consumer.ts)
const explicit = new RealtimeClient({ url: 'wss://engine.example/ws', token: 'jwt', WebSocket });
explicit.close();

// issue 24: the fallback transports, the transport in use, the steps down
const behindProxy = new RealtimeClient({
  url: 'wss://engine.example/ws',
  transports: ['websocket', 'sse', 'long-poll'],
  fallbackAfterMs: 3000,
  webSocketRetryMs: 60000,
  fetch, // the DOM's own
});
const carried: 'websocket' | 'sse' | 'long-poll' | null = behindProxy.transport;
behindProxy.on('fallback', (f) => void [f.from, f.to, f.message.length]);
// @ts-expect-error not a transport of the contract
new RealtimeClient({ url: 'wss://engine.example/ws', transports: ['polling'] });
void carried;
behindProxy.close();

// A Node consumer of the package's types (issue 22), compiled by test/types.test.mjs without the DOM
// library: the `ws` package's WebSocket class (typed by @types/ws) is what the client takes in Node.
import WebSocket from 'ws';
import { RealtimeClient } from '../../lms-realtime.js';

const client = new RealtimeClient({ url: 'ws://localhost:8080/ws', token: () => 'jwt', WebSocket });
client.join('course:42', { onEvent: (e) => void e.seq });
client.close();

// issue 24: WebSocket only in Node, or with Node's own fetch (18+) for the HTTP fallback
new RealtimeClient({ url: 'ws://localhost:8080/ws', token: 'jwt', WebSocket, transports: ['websocket'] }).close();
const fallback = new RealtimeClient({ url: 'ws://localhost:8080/ws', token: 'jwt', WebSocket, fetch: (u: string, init?: object) => globalThis.fetch(u, init) });
void fallback.transport;
fallback.close();

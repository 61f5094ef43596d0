// A keep-alive http.Agent whose connections come from an async `connect` hook instead of a TCP
// dial: the HTTP router uses one per client connection and side (the app, or one intercept), so
// each client connection keeps its own upstream connections and a request never rides another
// client's. The hook may return any Duplex (a tunnel stream), adapted by asSocket (dial-agent.ts).
// A connection the hook marks `reuse: false` (a fail-open fallback to the app behind an intercept
// agent) serves one request and is closed, so the next request asks the hook again. Leaves out
// TLS (the agent only sees cleartext HTTP).
import { Agent } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { asSocket } from '../proxy/dial-agent.js';

export interface StreamConnection {
  stream: Duplex;
  /** False: close after this request instead of keeping it for the next one. Default true. */
  reuse?: boolean;
}

export type ConnectHook = () => Promise<StreamConnection>;

export function createStreamAgent(connect: ConnectHook): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const singleUse = new WeakSet<object>();
  // Node's Agent takes an asynchronous createConnection that reports through the callback.
  agent.createConnection = ((_options: unknown, callback: (error: Error | null, socket?: Socket) => void) => {
    connect().then(
      ({ stream, reuse }) => {
        if (reuse === false) singleUse.add(stream);
        callback(null, asSocket(stream));
      },
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
    );
    return undefined;
  }) as unknown as Agent['createConnection'];
  const keep = agent.keepSocketAlive.bind(agent);
  // Node's keepSocketAlive returns whether the socket may go back to the pool (typed void).
  agent.keepSocketAlive = (socket: Socket): boolean => !singleUse.has(socket) && (keep(socket) as unknown as boolean) !== false;
  return agent;
}

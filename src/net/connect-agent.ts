// A keep-alive http.Agent whose connections come from an async `connect` hook instead of a TCP
// dial, so any Duplex (a tunnel stream) can carry HTTP. Two users: the HTTP proxy's plain
// (absolute-form) requests, whose hook routes and dials each destination like SOCKS and CONNECT
// do (src/proxy/http-proxy.ts), and the traffic-agent's HTTP router, whose hook dials the app or
// opens a stream to one intercept (src/agent/http-router.ts). Both make one agent per client
// connection, so a destination connection is never shared between two clients.
// A connection the hook marks `reuse: false` (a fail-open fallback to the app behind an intercept
// agent) serves one request and is closed, so the next request asks the hook again. Leaves out
// TLS (only cleartext HTTP passes through these agents).
import { Agent, type AgentOptions } from 'node:http';
import { Socket as NetSocket, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface StreamConnection {
  stream: Duplex;
  /** False: close after this request instead of keeping it for the next one. Default true. */
  reuse?: boolean;
}

/** Where the request goes, from its URL (port 80 when the URL names none). */
export interface ConnectTarget {
  host: string;
  port: number;
}

export type ConnectHook = (target: ConnectTarget) => Promise<StreamConnection>;

/**
 * Node's agents keep idle sockets with setKeepAlive/ref/unref/setTimeout; a hook may return any
 * Duplex (a tunnel stream), so those become no-ops where the stream has none. Node's HTTP client
 * destroy()s its socket when the server's FIN ends a response; once that FIN is read, an
 * error-free destroy() of a stream not yet ended becomes end() instead (the stream then closes by
 * itself), so an orderly close stays one: a tunnel stream's destroy() sends RESET, which would
 * reach the server as a TCP reset.
 */
export function asSocket(stream: Duplex): Socket {
  const socket = stream as Partial<Socket> & Duplex;
  const noop = function (this: Duplex): Duplex {
    return this;
  };
  for (const method of ['setKeepAlive', 'setNoDelay', 'setTimeout', 'ref', 'unref'] as const) {
    if (typeof socket[method] !== 'function') Object.assign(socket, { [method]: noop });
  }
  if (!(stream instanceof NetSocket)) {
    const destroy = stream.destroy.bind(stream);
    stream.destroy = (error?: Error): Duplex => (error || !stream.readableEnded || stream.writableEnded ? destroy(error) : stream.end());
  }
  return socket as Socket;
}

/** `agentOptions` override the defaults (keep-alive, no cap on sockets). */
export function createConnectAgent(connect: ConnectHook, agentOptions: AgentOptions = {}): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity, ...agentOptions });
  const singleUse = new WeakSet<object>();
  // Node's Agent takes an asynchronous createConnection that reports through the callback.
  agent.createConnection = ((options: { host?: string; port?: number | string }, callback: (error: Error | null, socket?: Socket) => void) => {
    const target = { host: options.host ?? 'localhost', port: Number(options.port ?? 80) };
    connect(target).then(
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

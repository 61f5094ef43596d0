// An http.Agent whose connections come from the Dial hook, so the HTTP proxy's plain (absolute-form)
// requests travel the same way as SOCKS and CONNECT: routed by routing.ts, then dialed. The HTTP
// proxy makes one agent per client connection (keep-alive to the destination for that client
// only; destroyed with it), which keeps the client's identity in the Dial context and never
// shares a destination connection between two clients. Leaves out TLS to the destination (the
// proxy only forwards http:// URLs; https goes through CONNECT).
import { Agent, type AgentOptions } from 'node:http';
import { Socket as NetSocket, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { toDialError, type Dial } from './dial.js';
import type { RouteDecision, RouteTarget } from './routing.js';

export interface DialAgentOptions {
  dial: Dial;
  route: (target: RouteTarget) => RouteDecision;
  /** Who the agent's requests are for ("127.0.0.1:53122"). */
  client: string;
  /** Called with the decision for each new destination connection, for logs. */
  onDial?: (target: RouteTarget, decision: RouteDecision) => void;
}

/**
 * Node's agents keep idle sockets with setKeepAlive/ref/unref/setTimeout; a Dial may return any
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

export function createDialAgent(options: DialAgentOptions, agentOptions: AgentOptions = {}): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 16, ...agentOptions });
  // Node's Agent accepts an asynchronous createConnection that reports through the callback.
  agent.createConnection = ((connectOptions: { host?: string; port?: number | string }, callback: (error: Error | null, socket?: Socket) => void) => {
    const target = { host: connectOptions.host ?? 'localhost', port: Number(connectOptions.port ?? 80) };
    const decision = options.route(target);
    options.onDial?.(target, decision);
    options
      .dial(target, { via: decision.via, client: options.client, protocol: 'http' })
      .then((stream) => callback(null, asSocket(stream)))
      .catch((error: unknown) => callback(toDialError(error, target)));
    return undefined;
  }) as unknown as Agent['createConnection'];
  return agent;
}

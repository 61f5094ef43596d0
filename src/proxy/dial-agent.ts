// An http.Agent whose connections come from the Dial hook, so the HTTP proxy's plain (absolute-form)
// requests travel the same way as SOCKS and CONNECT: routed by routing.ts, then dialed. The HTTP
// proxy makes one agent per client connection (keep-alive to the destination for that client
// only; destroyed with it), which keeps the client's identity in the Dial context and never
// shares a destination connection between two clients. Leaves out TLS to the destination (the
// proxy only forwards http:// URLs; https goes through CONNECT).
import { Agent, type AgentOptions } from 'node:http';
import type { Socket } from 'node:net';
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
 * Node's agent keeps idle sockets with setKeepAlive/ref/unref/setTimeout; a Dial may return any
 * Duplex (a tunnel stream), so those become no-ops where the stream has none.
 */
function asSocket(stream: Duplex): Socket {
  const socket = stream as Partial<Socket> & Duplex;
  const noop = function (this: Duplex): Duplex {
    return this;
  };
  for (const method of ['setKeepAlive', 'setNoDelay', 'ref', 'unref'] as const) {
    if (typeof socket[method] !== 'function') Object.assign(socket, { [method]: noop });
  }
  if (typeof socket.setTimeout !== 'function') Object.assign(socket, { setTimeout: noop });
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

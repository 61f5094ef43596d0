// A Docker-mode connection's DNS stub on the host's 127.0.0.1 (UDP and TCP, one port), served by
// the host's companion (api-relay.ts), which runs as the user. The daemon's own stub lives in the
// container's network, and a port the engine publishes would hide who asks (its proxy or NAT is
// the peer), while DNS carries no credentials; so this door runs where the asker's uid can be
// known and checks it as the native stub's door does (DnsListeners with the owner gate:
// owner-gate.ts, peer-owner.ts). A query checkQuery rejects gets FORMERR or nothing here. A good
// one is routed as the native stub routes it (routeQuestion), with the daemon's routing table,
// which the host rebuilds from the daemon's status (followDaemonRouting): a name that is not the
// cluster's is forwarded to this machine's resolvers, as a native connection's stub does (over
// the asker's transport); a cluster name (or every name, before the daemon first answered) goes to
// the daemon's stub through its capture socket (handover.ts), a 0600 Unix socket in the
// connection's 0700 folder, so only the user reaches it, and the daemon answers it through the
// manager. One hand-over per query; a daemon that does not answer in time is SERVFAIL. An answer
// too big for the asker's UDP size keeps only its question, with TC set, so the asker retries over
// TCP.
// Leaves out caching (the daemon's stub caches cluster answers).
import { join } from 'node:path';
import { logger } from '../log/logger.js';
import { handOver } from './handover.js';
import { RCODE } from '../dns/dns2-wire.js';
import { formerrReply, rcodeReply, takeTcpMessage, truncatedReply, withTcpLength } from '../dns/message-check.js';
import { DEFAULT_FORWARD_TIMEOUT_MS, readQuery, routeQuestion, udpAnswerLimit } from '../dns/stub.js';
import { forwardQuery, systemResolvers, type Resolver } from '../dns/forwarder.js';
import { ControlCaller } from '../daemon/control-caller.js';
import type { DaemonStatus } from '../daemon/daemon.js';
import { createRoutingTable, type RoutingTable } from '../proxy/routing.js';
import { DnsListeners, type DnsAddresses } from '../dns/transport.js';
import { ALLOW_OTHER_USERS_ENV, createOwnerGate, DOOR_CHECK_ENV, type OwnerGate } from '../proxy/owner-gate.js';

const log = logger('tp:docker:dns');

/** The daemon's stub asks the cluster within 3 s (stub.ts); its answer, the hand-over and a loaded machine fit in this. */
export const DAEMON_ANSWER_MS = 6_000;
/** How often the host asks the daemon for its routing (it changes when the manager learns namespaces and ranges). */
export const ROUTING_POLL_MS = 5_000;
const FIRST_ROUTING_POLL_MS = 250;

export interface DnsDoorOptions {
  /** The daemon's capture socket as the host sees it (in the connection's folder). */
  captureSocket: string;
  /** 0 for a free port. */
  port: number;
  /** Who may ask (the companion's gate, as the native daemon's: companionGate). */
  gate: OwnerGate;
  /** The daemon's routing table (followDaemonRouting); undefined: every question goes to the daemon. */
  table?: () => RoutingTable | undefined;
  /** Where other questions go. Default: the nameservers in this machine's /etc/resolv.conf. */
  resolvers?: readonly Resolver[];
}

/** The gate of the companion's doors, chosen as the native daemon's is (owner-gate.ts); `stateDir`: the daemon's state folder as the host sees it, for the door secret. */
export function companionGate(stateDir: string, env: NodeJS.ProcessEnv = process.env): Promise<OwnerGate> {
  return createOwnerGate({ allowOtherUsers: env[ALLOW_OTHER_USERS_ENV] === '1', mode: env[DOOR_CHECK_ENV], secretFile: join(stateDir, 'door-secret') });
}

/** Listens on 127.0.0.1 and serves until the process ends. */
export async function startDnsDoor(options: DnsDoorOptions): Promise<{ listeners: DnsListeners; addresses: DnsAddresses }> {
  let nextId = 1;
  const resolvers = options.resolvers ?? systemResolvers();
  const listeners = new DnsListeners(async (query, transport, client) => {
    const id = `h${nextId++}`;
    // Checked and parsed here as the native stub does, before anything reaches the daemon.
    const read = readQuery(query, `${id} ${transport} ${client}`, log);
    if (!('request' in read)) return read.reply;
    const { request } = read;
    const name = request.questions[0]?.name;
    if (typeof name !== 'string') return formerrReply(query);
    const table = options.table?.();
    if (table && routeQuestion(name, table).decision.via === 'direct') {
      try {
        return await forwardQuery(request.toBuffer(), resolvers, { transport, timeoutMs: DEFAULT_FORWARD_TIMEOUT_MS });
      } catch (error) {
        log.info('!! %s %s %s: %s', id, transport, client, (error as Error).message);
        return rcodeReply(query, RCODE.SERVFAIL);
      }
    }
    let answer: Buffer;
    try {
      answer = await askDaemon(options.captureSocket, query, DAEMON_ANSWER_MS);
    } catch (error) {
      log.info('!! %s %s %s: %s', id, transport, client, (error as Error).message);
      return rcodeReply(query, RCODE.SERVFAIL);
    }
    return transport === 'tcp' || answer.length <= udpAnswerLimit(request) ? answer : truncatedReply(query, answer);
  }, {}, options.gate);
  const addresses = await listeners.listen('127.0.0.1', options.port);
  log.info('DNS stub listening on 127.0.0.1:%d (udp and tcp), answered by the daemon through %s', addresses.udp.port, options.captureSocket);
  return { listeners, addresses };
}

/**
 * One query to the daemon's stub through its capture socket (handover.ts), DNS over TCP; resolves
 * with the answer's bytes. The query is followed by our end, so the daemon's stub ends its side
 * once it answered and the hand-over closes cleanly (a reset would be logged by the daemon as one).
 */
export async function askDaemon(captureSocket: string, query: Buffer, timeoutMs: number): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  const framed = await handOver(captureSocket, 'dns', timeoutMs);
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | undefined, answer?: Buffer): void => {
      if (settled) return;
      settled = true;
      if (error) {
        close();
        reject(error);
      } else resolve(answer!);
    };
    const close = (): void => {
      clearTimeout(timer);
      framed.destroy();
    };
    // Also ends a hand-over whose answer came but whose end never does.
    const timer = setTimeout(() => {
      settle(new Error(`the daemon did not answer within ${timeoutMs} ms`));
      close();
    }, Math.max(0, deadline - Date.now()));
    framed.once('close', () => clearTimeout(timer));
    let buffered = Buffer.alloc(0);
    framed.on('error', (error) => settle(error));
    framed.on('data', (chunk: Buffer) => {
      if (settled) return;
      buffered = Buffer.concat([buffered, chunk]);
      // The 16-bit length bounds what is kept: at most 65,537 bytes (and a frame) are ever buffered.
      const taken = takeTcpMessage(buffered);
      if (taken) settle(undefined, Buffer.from(taken.message));
    });
    framed.on('end', () => {
      settle(new Error('the daemon closed the query without an answer'));
      close();
    });
    framed.end(withTcpLength(query));
  });
}

/**
 * The daemon's routing table, built on the host as the daemon builds it (its status carries the
 * cluster's domain, ranges and namespaces, the namespace and the --also-proxy/--never-proxy
 * lists), asked for every FIRST_ROUTING_POLL_MS until the daemon first answered (the companion
 * starts before it), then every ROUTING_POLL_MS; undefined until then.
 */
export function followDaemonRouting(controlSocket: string, intervalMs = ROUTING_POLL_MS): { table(): RoutingTable | undefined; stop(): void } {
  let table: RoutingTable | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const ask = async (): Promise<void> => {
    const control = await ControlCaller.connect(controlSocket, 2_000);
    try {
      const status = await control.call<DaemonStatus>('status');
      if (status.routing) table = createRoutingTable({ ...status.routing, namespace: status.namespace });
    } finally {
      control.close();
    }
  };
  const poll = (): void => {
    void ask()
      .catch((error: Error) => log('!! the daemon\'s routing: %s', error.message))
      .finally(() => {
        if (!stopped) timer = setTimeout(poll, table ? intervalMs : FIRST_ROUTING_POLL_MS);
      });
  };
  poll();
  return {
    table: () => table,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

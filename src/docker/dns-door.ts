// A Docker-mode connection's DNS stub on the host's 127.0.0.1 (UDP and TCP, one port), served by
// the host's companion (api-relay.ts), which runs as the user. The daemon's own stub lives in the
// container's network, and a port the engine publishes would hide who asks (its proxy or NAT is
// the peer), while DNS carries no credentials; so this door runs where the asker's uid can be
// known and checks it as the native stub's door does (DnsListeners with the owner gate:
// owner-gate.ts, peer-owner.ts). A query checkQuery rejects gets FORMERR or nothing here; a good
// one goes to the daemon's stub through the daemon's capture socket (handover.ts), a 0600 Unix
// socket in the connection's 0700 folder, so only the user reaches it, and the daemon answers as
// for a container on its network (cluster names through the manager, other names from the
// container's resolvers). One hand-over per query; a daemon that does not
// answer in time is SERVFAIL. An answer too big for the asker's UDP size keeps only its question,
// with TC set, so the asker retries over TCP.
// Leaves out routing and caching (the daemon's stub does both).
import { join } from 'node:path';
import { logger } from '../log/logger.js';
import { handOver } from './handover.js';
import { Packet, RCODE } from '../dns/dns2-wire.js';
import { checkQuery, formerrReply, rcodeReply, truncatedReply } from '../dns/message-check.js';
import { udpAnswerLimit } from '../dns/stub.js';
import { DnsListeners, type DnsAddresses } from '../dns/transport.js';
import { ALLOW_OTHER_USERS_ENV, createOwnerGate, DOOR_CHECK_ENV, type OwnerGate } from '../proxy/owner-gate.js';

const log = logger('tp:docker:dns');

/** The daemon's stub asks the cluster within 3 s (stub.ts); its answer, the hand-over and a loaded machine fit in this. */
export const DAEMON_ANSWER_MS = 6_000;
/** RFC 1035 §4.2.2: a message over TCP follows its 16-bit length. */
const LENGTH_BYTES = 2;

export interface DnsDoorOptions {
  /** The daemon's capture socket as the host sees it (in the connection's folder). */
  captureSocket: string;
  /** 0 for a free port. */
  port: number;
  /** Who may ask (the companion's gate, as the native daemon's: companionGate). */
  gate: OwnerGate;
}

/** The gate of the companion's doors, chosen as the native daemon's is (owner-gate.ts); `stateDir`: the daemon's state folder as the host sees it, for the door secret. */
export function companionGate(stateDir: string, env: NodeJS.ProcessEnv = process.env): Promise<OwnerGate> {
  return createOwnerGate({ allowOtherUsers: env[ALLOW_OTHER_USERS_ENV] === '1', mode: env[DOOR_CHECK_ENV], secretFile: join(stateDir, 'door-secret') });
}

/** Listens on 127.0.0.1 and serves until the process ends. */
export async function startDnsDoor(options: DnsDoorOptions): Promise<{ listeners: DnsListeners; addresses: DnsAddresses }> {
  let nextId = 1;
  const listeners = new DnsListeners(async (query, transport, client) => {
    const id = `h${nextId++}`;
    const check = checkQuery(query);
    if (!check.ok) {
      log.info('!! %s %s %s: %s', id, transport, client, check.why);
      return check.reply === 'formerr' ? formerrReply(query) : undefined;
    }
    // Parsed here as the native stub parses it (checkQuery made that cheap), for the asker's UDP size.
    let udpLimit: number;
    try {
      udpLimit = udpAnswerLimit(Packet.parse(query));
    } catch (error) {
      log.info('!! %s unreadable query: %s', id, (error as Error).message);
      return formerrReply(query);
    }
    let answer: Buffer;
    try {
      answer = await askDaemon(options.captureSocket, query, DAEMON_ANSWER_MS);
    } catch (error) {
      log.info('!! %s %s %s: %s', id, transport, client, (error as Error).message);
      return rcodeReply(query, RCODE.SERVFAIL);
    }
    return transport === 'tcp' || answer.length <= udpLimit ? answer : truncatedReply(query, answer);
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
      if (buffered.length < LENGTH_BYTES) return;
      const size = buffered.readUInt16BE(0);
      // The 16-bit length bounds what is kept: at most 65,537 bytes (and a frame) are ever buffered.
      if (buffered.length >= LENGTH_BYTES + size) settle(undefined, Buffer.from(buffered.subarray(LENGTH_BYTES, LENGTH_BYTES + size)));
    });
    framed.on('end', () => {
      settle(new Error('the daemon closed the query without an answer'));
      close();
    });
    const length = Buffer.alloc(LENGTH_BYTES);
    length.writeUInt16BE(query.length);
    framed.end(Buffer.concat([length, query]));
  });
}

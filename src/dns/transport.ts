// The DNS stub's sockets: one UDP socket and one TCP listener on the same address and port,
// handing each query's raw bytes to a handler and sending back what it returns. TCP follows
// RFC 7766: 2-byte length framing, several queries per connection (answers in any order), idle
// connections closed. Bounds (limits.ts): a TCP message must be complete within a deadline of
// its first byte, TCP connections and in-flight UDP queries are capped (over the TCP cap a
// connection is closed at once; over the UDP cap a query gets SERVFAIL). Written on node:dgram
// and node:net rather than dns2's servers, which parse every packet with Packet.parse before tp
// can check it (message-check.ts says why that matters).
// Leaves out what a query means (stub.ts).
import { logger } from '../log/logger.js';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { closeGracefully, ConnectionSet } from '../net/connection-set.js';
import { OPEN_GATE, type OwnerGate } from '../proxy/owner-gate.js';
import {
  ConnectionCap,
  DNS_TCP_IDLE_MS,
  DNS_TCP_MESSAGE_DEADLINE_MS,
  MAX_DNS_TCP_CONNECTIONS,
  MAX_DNS_TCP_IN_FLIGHT,
  MAX_DNS_UDP_IN_FLIGHT,
} from '../proxy/limits.js';
import { RCODE } from './dns2-wire.js';
import { rcodeReply, takeTcpMessage, withTcpLength } from './message-check.js';

const log = logger('tp:dns');

/** Returns the reply's bytes, or undefined to send nothing. */
export type QueryHandler = (query: Buffer, transport: 'udp' | 'tcp', client: string) => Promise<Buffer | undefined>;

const BIND_ATTEMPTS = 5;
/**
 * How long a TCP client has to read its last answers and close after we end the connection;
 * an answer is at most 64 KiB, so this is generous even for a slow reader on a loaded machine.
 */
const END_GRACE_MS = 5_000;

/** Each defaults to the limits.ts constant of the same meaning; tests shrink them. */
export interface DnsLimits {
  tcpMessageDeadlineMs?: number;
  tcpIdleMs?: number;
  maxTcpConnections?: number;
  maxTcpInFlight?: number;
  maxUdpInFlight?: number;
}

export interface DnsAddresses {
  udp: AddressInfo;
  tcp: AddressInfo;
}

export class DnsListeners {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new ConnectionSet();
  private readonly tcpClients: ConnectionCap;
  private udpInFlight = 0;
  /** UDP queries refused since the cap was reached, logged once when it clears. */
  private udpRefused = 0;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly handler: QueryHandler,
    private readonly limits: DnsLimits = {},
    private readonly gate: OwnerGate = OPEN_GATE,
  ) {
    this.tcpClients = new ConnectionCap(limits.maxTcpConnections ?? MAX_DNS_TCP_CONNECTIONS);
  }

  /**
   * Binds TCP, then UDP on the same port. With port 0 the kernel picks a TCP port no socket holds
   * (a UDP-first pick can land on a port a busy machine's outgoing TCP connections use), and UDP,
   * far less crowded, follows; a clash is retried with a new pick.
   */
  async listen(host: string, port: number): Promise<DnsAddresses> {
    let lastError: unknown;
    for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
      // allowHalfOpen: a client may send its query and shut its side; it still gets the answer.
      const tcp = createServer({ allowHalfOpen: true }, (socket) => this.acceptTcp(socket));
      const udp = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, host, () => {
            tcp.removeListener('error', reject);
            resolve();
          });
        });
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind((tcp.address() as AddressInfo).port, host, () => {
            udp.removeListener('error', reject);
            resolve();
          });
        });
        udp.on('message', (message, from) => this.onDatagram(udp, message, `${from.address}:${from.port}`, from.port, from.address));
        udp.on('error', (error) => log.error('!! udp error %s', error.message));
        tcp.on('error', (error) => log.error('!! tcp error %s', error.message));
        this.udp = udp;
        this.tcp = tcp;
        return { udp: udp.address(), tcp: tcp.address() as AddressInfo };
      } catch (error) {
        lastError = error;
        udp.close();
        tcp.close();
        if (port !== 0) break;
      }
    }
    throw lastError;
  }

  close(timeoutMs: number): Promise<void> {
    this.closing ??= this.shutdown(timeoutMs);
    return this.closing;
  }

  destroy(): Promise<void> {
    this.closing ??= this.shutdown(0);
    this.connections.destroyAll();
    return this.closing;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    const udp = this.udp;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (this.tcp) await closeGracefully(this.tcp, this.connections, timeoutMs);
  }

  private onDatagram(udp: UdpSocket, message: Buffer, client: string, port: number, address: string): void {
    const max = this.limits.maxUdpInFlight ?? MAX_DNS_UDP_IN_FLIGHT;
    if (this.udpInFlight >= max) {
      if (this.udpRefused++ === 0) log.info('!! udp: %d queries in flight, the most the stub takes; answering SERVFAIL until some finish', max);
      const reply = rcodeReply(message, RCODE.SERVFAIL);
      if (reply) udp.send(reply, port, address);
      return;
    }
    if (this.udpRefused > 0) {
      log.info('udp: below the cap again; %d queries got SERVFAIL meanwhile', this.udpRefused);
      this.udpRefused = 0;
    }
    this.udpInFlight += 1;
    this.gate
      .admitsDatagram({ address, port }, 'DNS stub (udp)', udp.address())
      .then((admitted) => (admitted ? this.handler(message, 'udp', client) : rcodeReply(message, RCODE.REFUSED)))
      .then(
        (reply) => {
          if (reply && this.closing === undefined) udp.send(reply, port, address);
        },
        (error: unknown) => log.info('!! %s %s', client, (error as Error).message),
      )
      .finally(() => {
        this.udpInFlight -= 1;
      });
  }

  private acceptTcp(socket: Socket): void {
    const client = `${socket.remoteAddress}:${socket.remotePort}`;
    this.connections.add(socket);
    socket.on('error', (error) => log('!! tcp %s %s', client, error.message));
    if (!this.tcpClients.admit(socket)) {
      log.info('!! tcp %s refused: %d connections open, the most the stub takes', client, this.tcpClients.max);
      socket.destroy();
      return;
    }
    const endSoon = (): void => {
      socket.end();
      setTimeout(() => socket.destroy(), END_GRACE_MS).unref();
    };
    const idleMs = this.limits.tcpIdleMs ?? DNS_TCP_IDLE_MS;
    socket.setTimeout(idleMs, () => {
      log.info('!! tcp %s idle for %d ms; closing', client, idleMs);
      endSoon();
    });
    // Runs while a message is partly received; an idle connection is the idle timer's.
    const deadlineMs = this.limits.tcpMessageDeadlineMs ?? DNS_TCP_MESSAGE_DEADLINE_MS;
    let deadline: NodeJS.Timeout | undefined;
    const startDeadline = (): void => {
      deadline = setTimeout(() => {
        log.info('!! tcp %s: a message was not complete %d ms after its first byte; closing', client, deadlineMs);
        socket.destroy();
      }, deadlineMs);
    };
    socket.once('close', () => clearTimeout(deadline));
    const maxInFlight = this.limits.maxTcpInFlight ?? MAX_DNS_TCP_IN_FLIGHT;
    const admitted = this.gate.admitsConnection(socket, 'DNS stub (tcp)', false);
    let buffered: Buffer = Buffer.alloc(0);
    let inFlight = 0;
    let peerEnded = false;
    socket.on('end', () => {
      peerEnded = true;
      if (inFlight === 0) endSoon();
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      if (deadline === undefined) startDeadline();
      // Each message is preceded by its 16-bit length, so never above 65,535.
      for (let taken = takeTcpMessage(buffered); taken; taken = takeTcpMessage(buffered)) {
        const query = taken.message;
        buffered = taken.rest;
        clearTimeout(deadline);
        deadline = undefined;
        // The next message's clock starts with its first byte, which is already here.
        if (buffered.length > 0) startDeadline();
        if (++inFlight > maxInFlight) {
          log.info('!! tcp %s has too many unanswered queries; closing', client);
          socket.destroy();
          return;
        }
        const copy = Buffer.from(query);
        admitted.then((ok) => (ok ? this.handler(copy, 'tcp', client) : rcodeReply(copy, RCODE.REFUSED))).then(
          (reply) => {
            inFlight -= 1;
            if (!reply) {
              socket.destroy();
              return;
            }
            if (socket.writable) socket.write(withTcpLength(reply));
            if (peerEnded && inFlight === 0) endSoon();
          },
          (error: unknown) => {
            log.info('!! tcp %s %s', client, (error as Error).message);
            socket.destroy();
          },
        );
      }
    });
  }
}

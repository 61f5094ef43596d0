// The DNS stub's sockets: one UDP socket and one TCP listener on the same address and port,
// handing each query's raw bytes to a handler and sending back what it returns. TCP follows
// RFC 7766: 2-byte length framing, several queries per connection (answers in any order), idle
// connections closed. Written on node:dgram and node:net rather than dns2's servers, which parse
// every packet with Packet.parse before tp can check it (message-check.ts says why that matters).
// Leaves out what a query means (stub.ts).
import { logger } from '../log/logger.js';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { closeGracefully, ConnectionSet } from '../proxy/connection-set.js';

const log = logger('tp:dns');

/** Returns the reply's bytes, or undefined to send nothing. */
export type QueryHandler = (query: Buffer, transport: 'udp' | 'tcp', client: string) => Promise<Buffer | undefined>;

/** RFC 7766 §6.2.3: close TCP connections idle this long. */
export const TCP_IDLE_TIMEOUT_MS = 10_000;
/** Queries one TCP connection may have unanswered at once; past it the connection is closed. */
export const MAX_TCP_IN_FLIGHT = 32;
const BIND_ATTEMPTS = 5;

export interface DnsAddresses {
  udp: AddressInfo;
  tcp: AddressInfo;
}

export class DnsListeners {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new ConnectionSet();
  private closing: Promise<void> | undefined;

  constructor(private readonly handler: QueryHandler) {}

  /** Binds UDP, then TCP on the same port (port 0: retried if TCP finds that port taken). */
  async listen(host: string, port: number): Promise<DnsAddresses> {
    let lastError: unknown;
    for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
      const udp = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind(port, host, () => {
            udp.removeListener('error', reject);
            resolve();
          });
        });
        // allowHalfOpen: a client may send its query and shut its side; it still gets the answer.
        const tcp = createServer({ allowHalfOpen: true }, (socket) => this.acceptTcp(socket));
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(udp.address().port, host, () => {
            tcp.removeListener('error', reject);
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
    this.handler(message, 'udp', client).then(
      (reply) => {
        if (reply && this.closing === undefined) udp.send(reply, port, address);
      },
      (error: unknown) => log.info('!! %s %s', client, (error as Error).message),
    );
  }

  private acceptTcp(socket: Socket): void {
    const client = `${socket.remoteAddress}:${socket.remotePort}`;
    this.connections.add(socket);
    socket.setTimeout(TCP_IDLE_TIMEOUT_MS, () => socket.end());
    socket.on('error', (error) => log('!! tcp %s %s', client, error.message));
    let buffered: Buffer = Buffer.alloc(0);
    let inFlight = 0;
    let peerEnded = false;
    socket.on('end', () => {
      peerEnded = true;
      if (inFlight === 0) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      // RFC 1035 §4.2.2: each message is preceded by its 16-bit length, so never above 65,535.
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const size = buffered.readUInt16BE(0);
        const query = buffered.subarray(2, 2 + size);
        buffered = buffered.subarray(2 + size);
        if (++inFlight > MAX_TCP_IN_FLIGHT) {
          log.info('!! tcp %s has too many unanswered queries; closing', client);
          socket.destroy();
          return;
        }
        this.handler(Buffer.from(query), 'tcp', client).then(
          (reply) => {
            inFlight -= 1;
            if (!reply) {
              socket.destroy();
              return;
            }
            const length = Buffer.alloc(2);
            length.writeUInt16BE(reply.length);
            if (socket.writable) socket.write(Buffer.concat([length, reply]));
            if (peerEnded && inFlight === 0) socket.end();
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

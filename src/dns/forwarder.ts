// Forwards a DNS question that is not the cluster's to the system's resolvers and hands back
// their answer unchanged: over UDP from a fresh random port (RFC 5452 §9.2), trying each resolver
// in turn, accepting only a reply from that resolver with the same id; over TCP (RFC 7766) when
// the client asked over TCP, and then over UDP where the resolver takes no TCP. Also reads the
// resolvers from /etc/resolv.conf. Leaves out caching and DNSSEC (the answer is relayed as it came).
import { logger } from '../log/logger.js';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect, isIPv6 } from 'node:net';
import { TpError } from '../errors.js';
import { HEADER_BYTES, takeTcpMessage, withTcpLength } from './message-check.js';

const log = logger('tp:dns');

export interface Resolver {
  host: string;
  port: number;
}

export const DNS_PORT = 53;

export class ForwardError extends TpError {
  constructor(message: string, cause?: unknown) {
    super('TP_ERR_DNS_FORWARD_FAILED', message, { cause });
  }
}

/** The `nameserver` lines of a resolv.conf file's text. */
export function parseResolvConf(text: string): Resolver[] {
  const resolvers: Resolver[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    if (match) resolvers.push({ host: match[1].split('%')[0], port: DNS_PORT });
  }
  return resolvers;
}

export function systemResolvers(path = '/etc/resolv.conf'): Resolver[] {
  try {
    return parseResolvConf(readFileSync(path, 'utf8'));
  } catch (error) {
    log.warn('!! cannot read %s: %s', path, (error as Error).message);
    return [];
  }
}

function askOverUdp(query: Buffer, resolver: Resolver, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIPv6(resolver.host) ? 'udp6' : 'udp4');
    const id = query.readUInt16BE(0);
    const finish = (error: Error | undefined, response?: Buffer): void => {
      clearTimeout(timer);
      socket.close();
      if (error) reject(error);
      else resolve(response!);
    };
    const timer = setTimeout(() => finish(new ForwardError(`${resolver.host}:${resolver.port} did not answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (error) => finish(new ForwardError(`cannot ask ${resolver.host}:${resolver.port}: ${error.message}`, error)));
    socket.on('message', (message, from) => {
      // Anything but this resolver's reply to this id is ignored, not trusted.
      if (from.port !== resolver.port || message.length < HEADER_BYTES || message.readUInt16BE(0) !== id) return;
      finish(undefined, message);
    });
    socket.send(query, resolver.port, resolver.host);
  });
}

function askOverTcp(query: Buffer, resolver: Resolver, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: resolver.host, port: resolver.port });
    let buffered = Buffer.alloc(0);
    const finish = (error: Error | undefined, response?: Buffer): void => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(response!);
    };
    const timer = setTimeout(() => finish(new ForwardError(`${resolver.host}:${resolver.port} did not answer over TCP within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (error) => finish(new ForwardError(`cannot ask ${resolver.host}:${resolver.port} over TCP: ${error.message}`, error)));
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const taken = takeTcpMessage(buffered);
      if (taken) finish(undefined, taken.message);
    });
    socket.on('end', () => finish(new ForwardError(`${resolver.host}:${resolver.port} closed the TCP connection without an answer`)));
    socket.write(withTcpLength(query));
  });
}

export interface ForwardOptions {
  transport: 'udp' | 'tcp';
  /** Per resolver. */
  timeoutMs: number;
}

/**
 * Asks each resolver in turn; resolves with the first answer, rejects with ForwardError when none
 * answers. A question asked over TCP goes to a resolver over TCP first, then over UDP: RFC 7766
 * asks every resolver to take TCP, but some do not, and `tp run --netns` and Docker mode's
 * containers reach the stub over TCP whatever transport the program used (their relay speaks
 * TCP to the daemon), so without it no name outside the cluster would resolve there. An answer
 * over UDP that was cut (TC) is passed on as it is.
 */
export async function forwardQuery(query: Buffer, resolvers: readonly Resolver[], options: ForwardOptions): Promise<Buffer> {
  if (resolvers.length === 0) throw new ForwardError('there is no resolver to forward to');
  let lastError: unknown;
  const ways = options.transport === 'tcp' ? [askOverTcp, askOverUdp] : [askOverUdp];
  for (const resolver of resolvers) {
    for (const ask of ways) {
      try {
        return await ask(query, resolver, options.timeoutMs);
      } catch (error) {
        lastError = error;
        log.info('!! forward to %s:%d failed: %s', resolver.host, resolver.port, (error as Error).message);
      }
    }
  }
  throw lastError instanceof ForwardError ? lastError : new ForwardError('no resolver answered', lastError);
}

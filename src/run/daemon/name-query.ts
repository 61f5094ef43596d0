// The daemon's name query socket for the LD_PRELOAD shim's getaddrinfo()/gethostbyname() and
// the Node preload's dns.lookup(): a unix stream socket (0600, in the user's 0700 runtime dir),
// one question line and one answer line per connection:
//
//   -> "<name> <family>\n"     family 0 (any), 4 or 6
//   <- "cluster <ip> [<ip>…]\n" | "not-cluster\n" | "nxdomain\n" | "error <text>\n"
//
// routing.ts decides whether a name is the cluster's (the shims never guess); cluster names are
// asked of the cluster's DNS through the `resolve` hook (the manager link), A and/or AAAA, and
// answers are kept for a few seconds. Leaves out reverse lookups and record types other than
// addresses (the DNS stub serves those).
import { rmSync } from 'node:fs';
import { listenPrivately } from './private-socket.js';
import { createServer, type Server, type Socket } from 'node:net';
import { logger } from '../../log/logger.js';
import { clusterQueryName, type RoutingTable } from '../../proxy/routing.js';
import { closeGracefully, ConnectionSet } from '../../net/connection-set.js';

const log = logger('tp:daemon:names');

/** A question is a DNS name (≤ 253 bytes) plus a family; anything longer is not one. */
export const MAX_QUERY_BYTES = 300;
export const DEFAULT_ANSWER_TTL_MS = 5_000;
const MAX_CACHED_ANSWERS = 1_000;
const QUERY_IDLE_TIMEOUT_MS = 5_000;

/** What the cluster's DNS said; ResolveResult from the manager fits. */
export interface AddressAnswer {
  rcode: number;
  answers: readonly { type: string; address?: string }[];
}

export type ResolveAddresses = (fqdn: string, type: 'A' | 'AAAA') => Promise<AddressAnswer>;

export interface NameQueryOptions {
  socketPath: string;
  table(): RoutingTable;
  resolve: ResolveAddresses;
  answerTtlMs?: number;
  now?: () => number;
}

export type NameAnswer = { kind: 'cluster'; addresses: string[] } | { kind: 'not-cluster' } | { kind: 'nxdomain' } | { kind: 'error'; message: string };

export function formatNameAnswer(answer: NameAnswer): string {
  switch (answer.kind) {
    case 'cluster':
      return `cluster ${answer.addresses.join(' ')}\n`;
    case 'error':
      return `error ${answer.message.replace(/[\r\n]+/g, ' ')}\n`;
    default:
      return `${answer.kind}\n`;
  }
}

/** Parses "<name> <family>"; undefined for anything else (a name with control bytes too: they would reach routing and the log). */
export function parseNameQuestion(line: string): { name: string; family: 0 | 4 | 6 } | undefined {
  // Read as latin1, so bytes of a UTF-8 name are characters from \x80 up.
  // eslint-disable-next-line no-control-regex
  const match = /^([^\x00-\x20\x7f]{1,253}) ([046])$/.exec(line.trim());
  if (!match) return undefined;
  return { name: match[1], family: Number(match[2]) as 0 | 4 | 6 };
}

export class NameQueryServer {
  private readonly server: Server;
  private readonly connections = new ConnectionSet();
  private readonly cache = new Map<string, { answer: NameAnswer; expiresAt: number }>();
  private closing: Promise<void> | null = null;

  constructor(private readonly options: NameQueryOptions) {
    this.server = createServer((socket) => this.accept(socket));
    this.server.on('error', (error) => log.error('!! listener error %s', error.message));
  }

  async listen(): Promise<void> {
    await listenPrivately(this.server, this.options.socketPath);
    log.info('listening on %s', this.options.socketPath);
  }

  close(): Promise<void> {
    this.closing ??= closeGracefully(this.server, this.connections, 1_000).finally(() => rmSync(this.options.socketPath, { force: true }));
    return this.closing;
  }

  destroy(): Promise<void> {
    this.connections.destroyAll();
    return this.close();
  }

  /** The answer for one question, as the socket gives it; exposed for the tests and the bench. */
  async answer(name: string, family: 0 | 4 | 6): Promise<NameAnswer> {
    const fqdn = clusterQueryName(name, this.options.table());
    if (!fqdn) return { kind: 'not-cluster' };
    const now = this.options.now ?? Date.now;
    const key = `${fqdn} ${family}`;
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt > now()) return cached.answer;
    const answer = await this.ask(fqdn, family);
    if (answer.kind !== 'error') {
      if (this.cache.size >= MAX_CACHED_ANSWERS) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(key, { answer, expiresAt: now() + (this.options.answerTtlMs ?? DEFAULT_ANSWER_TTL_MS) });
    }
    return answer;
  }

  private async ask(fqdn: string, family: 0 | 4 | 6): Promise<NameAnswer> {
    const types: ('A' | 'AAAA')[] = family === 4 ? ['A'] : family === 6 ? ['AAAA'] : ['A', 'AAAA'];
    const results = await Promise.allSettled(types.map((type) => this.options.resolve(fqdn, type)));
    const addresses: string[] = [];
    let failure: string | undefined;
    for (const result of results) {
      if (result.status === 'rejected') {
        failure = (result.reason as Error).message;
        continue;
      }
      for (const record of result.value.answers) {
        if ((record.type === 'A' || record.type === 'AAAA') && record.address && !addresses.includes(record.address)) addresses.push(record.address);
      }
    }
    if (addresses.length > 0) return { kind: 'cluster', addresses };
    if (failure !== undefined) return { kind: 'error', message: failure };
    return { kind: 'nxdomain' };
  }

  private accept(socket: Socket): void {
    this.connections.add(socket);
    socket.setTimeout(QUERY_IDLE_TIMEOUT_MS, () => socket.destroy());
    // The idle timer restarts on every byte: the question line also has a deadline from accept.
    const questionDeadline = setTimeout(() => socket.destroy(), QUERY_IDLE_TIMEOUT_MS);
    socket.once('close', () => clearTimeout(questionDeadline));
    socket.on('error', (error) => log('!! %s', error.message));
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('latin1');
      const newline = buffered.indexOf('\n');
      if (newline === -1) {
        if (buffered.length > MAX_QUERY_BYTES) socket.end(formatNameAnswer({ kind: 'error', message: 'question too long' }));
        return;
      }
      clearTimeout(questionDeadline);
      socket.off('data', onData);
      const question = parseNameQuestion(buffered.slice(0, newline));
      if (!question) {
        socket.end(formatNameAnswer({ kind: 'error', message: 'bad question' }));
        return;
      }
      void this.answer(question.name, question.family)
        .catch((err: Error): NameAnswer => ({ kind: 'error', message: err.message }))
        .then((answer) => {
          log('%s/%d: %s', question.name, question.family, answer.kind === 'cluster' ? answer.addresses.join(' ') : answer.kind);
          if (!socket.destroyed) socket.end(formatNameAnswer(answer));
        });
    };
    socket.on('data', onData);
  }
}

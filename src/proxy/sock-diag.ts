// The client of tp-peer-uid (shims/peer-uid/peer-uid.c, built or shipped next to the LD_PRELOAD
// library, run/shim-files.ts finds it):
// one long-lived helper process that answers "who owns the socket at this address?" with an
// exact netlink sock_diag query, which Node cannot send itself. Questions are lines with an id,
// answered in order; many may be in flight. Every accepted connection asks, so a question costs
// as little as it can: the questions of one event-loop turn go to the helper in one write (at
// setImmediate, after the turn's accepts), answers are split from the helper's output by hand,
// and the answer timeouts share one timer (deadlines.ts). Where the helper was not built, cannot
// start, dies, or says it cannot ask, the answer is 'unknown' and the caller reads /proc instead
// (peer-owner.ts). Leaves out what the answer means.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { logger } from '../log/logger.js';
import { nativeTool } from '../run/shim-files.js';
import { Deadlines } from '../tunnel/deadlines.js';

const log = logger('tp:proxy:owner');

/** Built by shims/build.sh or shipped prebuilt; undefined where neither is there. */
export const PEER_UID_HELPER = nativeTool('tp-peer-uid');
/** A question not answered in this time is 'unknown' (the caller falls back). */
const ANSWER_TIMEOUT_MS = 2_000;
/** An answer line is a few dozen bytes; output without a newline past this is not the helper's. */
const MAX_ANSWER_LINE = 256;

export interface SocketEnd {
  readonly address: string;
  readonly port: number;
}

/** The owner's uid, 'none' (no such socket, or one without an owner), or 'unknown' (ask /proc). */
export type DiagAnswer = number | 'none' | 'unknown';

export class SockDiag {
  private child: ChildProcess | undefined;
  private failed = false;
  private nextId = 1;
  private readonly waiting = new Map<string, (answer: DiagAnswer) => void>();
  private readonly deadlines = new Deadlines();
  /** Questions of this event-loop turn, written together at setImmediate. */
  private unsent = '';
  private partial = '';

  /** `helper`: the program to run; undefined: none (every answer is 'unknown'). */
  constructor(private readonly helper: string | undefined) {}

  /** TCP: the connected socket whose local end is `peer` and remote end `us`. */
  tcp(peer: SocketEnd, us: SocketEnd): Promise<DiagAnswer> {
    return this.ask('tcp', peer, us);
  }

  /** UDP: the socket that sent us a datagram from `peer` (bound there, or on the wildcard). */
  udp(peer: SocketEnd, us: SocketEnd): Promise<DiagAnswer> {
    return this.ask('udp', peer, us);
  }

  close(): void {
    this.child?.kill();
    this.stop();
  }

  private ask(protocol: 'tcp' | 'udp', peer: SocketEnd, us: SocketEnd): Promise<DiagAnswer> {
    const child = this.start();
    if (!child || !/^[0-9a-fA-F:.]+$/.test(peer.address + us.address)) return Promise.resolve('unknown');
    const id = String(this.nextId++);
    return new Promise((resolve) => {
      const deadline = this.deadlines.add(ANSWER_TIMEOUT_MS, () => this.answer(id, 'unknown'));
      this.waiting.set(id, (answer) => {
        this.deadlines.remove(deadline);
        resolve(answer);
      });
      if (this.unsent === '') setImmediate(() => this.send(child));
      this.unsent += `${id} ${protocol} ${peer.address} ${peer.port} ${us.address} ${us.port}\n`;
    });
  }

  private send(child: ChildProcess): void {
    const questions = this.unsent;
    this.unsent = '';
    // A helper that ended since: stop() has answered these 'unknown' already.
    if (this.child === child) child.stdin!.write(questions);
  }

  /** Answers every whole line of the helper's output; keeps a trailing part line for the next chunk. */
  private read(chunk: string): void {
    const text = this.partial + chunk;
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      const line = text.slice(start, end);
      const space = line.indexOf(' ');
      const value = space === -1 ? '' : line.slice(space + 1);
      this.answer(space === -1 ? line : line.slice(0, space), /^\d{1,10}$/.test(value) ? Number(value) : value === '-' ? 'none' : 'unknown');
      start = end + 1;
    }
    this.partial = text.slice(start);
    if (this.partial.length > MAX_ANSWER_LINE) {
      log.warn('!! %s wrote a line longer than %d bytes: owners are read from /proc/net instead', this.helper, MAX_ANSWER_LINE);
      this.close();
    }
  }

  private start(): ChildProcess | undefined {
    if (this.child || this.failed) return this.child;
    if (!this.helper || !existsSync(this.helper)) {
      this.failed = true;
      return undefined;
    }
    const child = spawn(this.helper, [], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.child = child;
    child.on('error', (error) => {
      log.warn('!! %s cannot run (%s): owners are read from /proc/net instead', this.helper, error.message);
      this.stop();
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) log.warn('!! %s ended (%s): owners are read from /proc/net instead', this.helper, signal ?? `exit ${code}`);
      this.stop();
    });
    child.stdin!.on('error', () => undefined);
    child.stdout!.setEncoding('latin1');
    child.stdout!.on('data', (chunk: string) => this.read(chunk));
    // The daemon's listeners keep it alive; the helper must not keep a test or a CLI alive.
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    return child;
  }

  private answer(id: string, answer: DiagAnswer): void {
    const resolve = this.waiting.get(id);
    this.waiting.delete(id);
    resolve?.(answer);
  }

  /** After a failure: every waiting question is 'unknown', and no helper is started again. */
  private stop(): void {
    this.failed = true;
    this.child = undefined;
    this.unsent = '';
    this.partial = '';
    for (const id of [...this.waiting.keys()]) this.answer(id, 'unknown');
  }
}

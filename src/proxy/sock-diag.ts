// The client of tp-peer-uid (shims/peer-uid/peer-uid.c, built or shipped next to the LD_PRELOAD
// library, run/shim-files.ts finds it):
// one long-lived helper process that answers "who owns the socket at this address?" with an
// exact netlink sock_diag query, which Node cannot send itself. Questions are lines with an id,
// answered in order; many may be in flight. Where the helper was not built, cannot start, dies,
// or says it cannot ask, the answer is 'unknown' and the caller reads /proc instead
// (peer-owner.ts). Leaves out what the answer means.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { logger } from '../log/logger.js';
import { nativeTool } from '../run/shim-files.js';

const log = logger('tp:proxy:owner');

/** Built by shims/build.sh or shipped prebuilt; undefined where neither is there. */
export const PEER_UID_HELPER = nativeTool('tp-peer-uid');
/** A question not answered in this time is 'unknown' (the caller falls back). */
const ANSWER_TIMEOUT_MS = 2_000;

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
      const timer = setTimeout(() => this.answer(id, 'unknown'), ANSWER_TIMEOUT_MS);
      timer.unref();
      this.waiting.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      child.stdin!.write(`${id} ${protocol} ${peer.address} ${peer.port} ${us.address} ${us.port}\n`);
    });
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
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const [id, value] = line.split(' ');
      this.answer(id, /^\d{1,10}$/.test(value ?? '') ? Number(value) : value === '-' ? 'none' : 'unknown');
    });
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
    for (const id of [...this.waiting.keys()]) this.answer(id, 'unknown');
  }
}

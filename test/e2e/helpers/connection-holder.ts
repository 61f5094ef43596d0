// Drives hold-connections.py (one process holding many connections to an echo server) as the
// laptop's user: start it, read its JSON lines, release the connections by closing its stdin.
// Used by the capacity e2e test and bench/capacity.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { asUser } from '../../helpers/unprivileged.js';

export const HOLD_CONNECTIONS = fileURLToPath(new URL('./hold-connections.py', import.meta.url));

export interface HeldReport {
  held: number;
  failed: number;
  failures: string[];
}

export class ConnectionHolder {
  private stderr = '';
  private readonly lines: AsyncIterator<string>;

  private constructor(readonly child: ChildProcess) {
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4000)));
    this.lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  }

  /** Runs `argv` (which ends in hold-connections.py and its arguments) as the test user with exactly `env`. */
  static start(env: NodeJS.ProcessEnv, argv: string[]): ConnectionHolder {
    const pairs = Object.entries(env).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${v}`);
    const [file, args] = asUser('env', ['-i', ...pairs, ...argv]);
    return new ConnectionHolder(spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  /** Resolves once every connection is open and has echoed (or failed). */
  held(): Promise<HeldReport> {
    return this.next() as Promise<unknown> as Promise<HeldReport>;
  }

  /** Closes every connection; resolves with how many it closed once the client has exited. */
  async release(): Promise<{ closed: number; exitCode: number | null }> {
    this.child.stdin!.end();
    const { closed } = (await this.next()) as { closed: number };
    const [exitCode] = this.child.exitCode === null ? ((await once(this.child, 'exit')) as [number | null]) : [this.child.exitCode];
    return { closed, exitCode };
  }

  kill(): void {
    this.child.kill();
  }

  private async next(): Promise<Record<string, unknown>> {
    const line = await this.lines.next();
    if (line.done) throw new Error(`the connection holder ended without a result; its stderr: ${this.stderr}`);
    return JSON.parse(line.value) as Record<string, unknown>;
  }
}

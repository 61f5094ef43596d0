// One container of a pod across its restarts: starts it as a real process group
// (`ip netns exec <pod netns> sh launcher.sh …`), logs each run to its own file, restarts it by the
// pod's restart policy with exponential back-off (waiting reason CrashLoopBackOff), runs its
// startup/readiness/liveness probes, and reports a V1ContainerStatus. stop() sends SIGTERM to the
// process group and SIGKILL after the grace period. Leaves out resource limits and user/group IDs.
// Used by the kubelet (pod-worker.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1ContainerState, V1ContainerStatus } from '@kubernetes/client-node';
import { LogWriter } from './container-log.js';
import { LAUNCHER } from './network.js';
import { ProbeLoop, type ProbeTarget } from './probes.js';
import { imageId } from './images.js';

export interface BackOff { baseMs: number; maxMs: number }
export const DEFAULT_BACKOFF: BackOff = { baseMs: 10_000, maxMs: 300_000 };

export interface ContainerLaunch {
  container: V1Container;
  argv: string[];
  env: Record<string, string>;
  mountsFile: string;
  netns: string;
  podIP: string;
  logDir: string;
  /** 'Always' | 'OnFailure' | 'Never' (init containers pass OnFailure or Never). */
  restartPolicy: string;
  backOff: BackOff;
  graceMs: number;
  dial: ProbeTarget['dial'];
  onChange(): void;
}

export class ContainerRunner {
  private child: ChildProcess | undefined;
  private state: V1ContainerState = { waiting: { reason: 'ContainerCreating' } };
  private lastState: V1ContainerState = {};
  private restartCount = 0;
  private ready = false;
  private started = false;
  private stopped = false;
  private runIndex = -1;
  private restartTimer: NodeJS.Timeout | undefined;
  private probes: ProbeLoop[] = [];
  private log: LogWriter | undefined;
  private exitWaiters: ((code: number) => void)[] = [];

  constructor(private readonly launch: ContainerLaunch) {
    mkdirSync(launch.logDir, { recursive: true });
  }

  get name(): string {
    return this.launch.container.name;
  }

  /** The log file of a run (`previous`: the run before the current one). */
  logFile(previous: boolean): string | undefined {
    const index = previous ? this.runIndex - 1 : this.runIndex;
    return index >= 0 ? join(this.launch.logDir, `${index}.log`) : undefined;
  }

  /** True once the current run has exited and will not be followed by more output. */
  runEnded(): boolean {
    return this.child === undefined;
  }

  isReady(): boolean {
    return this.ready;
  }

  /** Terminated for good: exited and not going to be restarted. */
  finished(): boolean {
    return this.state.terminated !== undefined && this.restartTimer === undefined;
  }

  exitCode(): number | undefined {
    return this.state.terminated?.exitCode;
  }

  /** Resolves with the exit code of the next exit (used for init containers). */
  nextExit(): Promise<number> {
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  start(): void {
    if (this.stopped) return;
    const { container } = this.launch;
    this.runIndex++;
    const log = new LogWriter(join(this.launch.logDir, `${this.runIndex}.log`));
    this.log = log;
    const startedAt = new Date();
    const workdir = container.workingDir ?? '';
    const child = spawn('ip', ['netns', 'exec', this.launch.netns, 'sh', LAUNCHER, this.launch.mountsFile, workdir, ...this.launch.argv], {
      env: this.launch.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    log.attach(child.stdout!);
    log.attach(child.stderr!);
    child.on('error', (error) => log.line(`failed to start: ${error.message}`));
    this.state = { running: { startedAt } };
    this.started = true;
    this.startProbes();
    this.launch.onChange();
    child.once('close', (code, signal) => {
      const exitCode = code ?? 128 + signalNumber(signal);
      void log.close();
      this.child = undefined;
      this.stopProbes();
      this.ready = false;
      this.started = false;
      this.state = { terminated: { exitCode, signal: signal ? signalNumber(signal) : undefined, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt: new Date(), containerID: this.containerID() } };
      for (const waiter of this.exitWaiters.splice(0)) waiter(exitCode);
      this.afterExit(exitCode);
      this.launch.onChange();
    });
  }

  private afterExit(exitCode: number): void {
    const policy = this.launch.restartPolicy;
    if (this.stopped || policy === 'Never' || (policy === 'OnFailure' && exitCode === 0)) return;
    const delay = Math.min(this.launch.backOff.baseMs * 2 ** this.restartCount, this.launch.backOff.maxMs);
    this.lastState = this.state;
    this.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${this.name}` } };
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.restartCount++;
      this.start();
    }, delay);
  }

  private startProbes(): void {
    const { container } = this.launch;
    const target: ProbeTarget = { podIP: this.launch.podIP, container, dial: this.launch.dial, exec: (argv, ms) => this.exec(argv, ms) };
    const begin = (): void => {
      if (container.readinessProbe) {
        const loop = new ProbeLoop(container.readinessProbe, target, false, (ok) => { this.ready = ok; this.launch.onChange(); });
        this.probes.push(loop);
        loop.start();
      } else {
        this.ready = true;
      }
      if (container.livenessProbe) {
        const loop = new ProbeLoop(container.livenessProbe, target, true, (ok) => {
          if (!ok) {
            this.log?.line(`liveness probe failed; killing container ${this.name}`);
            this.kill();
          }
        });
        this.probes.push(loop);
        loop.start();
      }
    };
    if (container.startupProbe) {
      const loop = new ProbeLoop(container.startupProbe, target, false, (ok) => { if (ok) { loop.stop(); begin(); this.launch.onChange(); } });
      this.probes.push(loop);
      loop.start();
    } else {
      begin();
    }
  }

  private stopProbes(): void {
    for (const probe of this.probes.splice(0)) probe.stop();
  }

  private exec(argv: string[], timeoutMs: number): Promise<number> {
    return new Promise((resolve) => {
      const child = spawn('ip', ['netns', 'exec', this.launch.netns, 'sh', LAUNCHER, this.launch.mountsFile, '', ...argv], { env: this.launch.env, stdio: 'ignore', detached: true });
      const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
      child.once('error', () => resolve(127));
      child.once('close', (code) => { clearTimeout(timer); resolve(code ?? 137); });
    });
  }

  /** SIGTERM to the process group, SIGKILL after the grace period; resolves when it has exited. */
  private kill(graceMs = this.launch.graceMs): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const pgid = child.pid!;
      const signal = (name: NodeJS.Signals): void => { try { process.kill(-pgid, name); } catch { /* gone */ } };
      const timer = setTimeout(() => signal('SIGKILL'), graceMs);
      child.once('close', () => { clearTimeout(timer); resolve(); });
      signal('SIGTERM');
    });
  }

  /**
   * Stops for good: no more restarts or probes; kills the current run (SIGKILL after `graceMs`,
   * default the container's own grace period). The process keeps serving until it exits. Idempotent.
   */
  async stop(graceMs?: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.stopProbes();
    await this.kill(graceMs);
  }

  status(): V1ContainerStatus {
    const { container } = this.launch;
    return {
      name: container.name,
      image: container.image ?? '',
      imageID: imageId(container.image ?? ''),
      containerID: this.runIndex >= 0 ? this.containerID() : undefined,
      ready: this.ready && this.state.running !== undefined,
      started: this.started,
      restartCount: this.restartCount,
      state: this.state,
      lastState: this.lastState,
    };
  }

  private containerID(): string {
    return `sandbox://${createHash('sha256').update(`${this.launch.logDir}/${this.runIndex}`).digest('hex').slice(0, 32)}`;
  }
}

/** A waiting status for a container that cannot be started (bad image, missing config). */
export function waitingStatus(container: V1Container, reason: string, message: string): V1ContainerStatus {
  return { name: container.name, image: container.image ?? '', imageID: '', ready: false, started: false, restartCount: 0, state: { waiting: { reason, message } }, lastState: {} };
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 };
  return signal ? numbers[signal] ?? 0 : 0;
}

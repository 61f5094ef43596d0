// Container probes (readiness, liveness, startup) the way the kubelet runs them: tcpSocket,
// httpGet (HTTP or HTTPS, port by number or by container port name) and exec, with
// initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold and failureThreshold.
// Network probes go through a dial hook (the node agent's pod dialer), since the kubelet's netns
// cannot route to pods. Leaves out gRPC probes and terminationGracePeriod overrides.
// Used by the kubelet (container-runner.ts).
import type { Socket } from 'node:net';
import tls from 'node:tls';
import type { V1Container, V1Probe } from '@kubernetes/client-node';

const DEFAULT_PERIOD_S = 10;
const DEFAULT_TIMEOUT_S = 1;
const DEFAULT_FAILURE_THRESHOLD = 3;
const MAX_STATUS_LINE = 1024;

export interface ProbeTarget {
  podIP: string;
  container: V1Container;
  dial(ip: string, port: number): Promise<Socket>;
  /** Runs argv in the container; resolves its exit code. */
  exec(argv: string[], timeoutMs: number): Promise<number>;
}

/** One probe attempt: resolves true on success, false on failure (never rejects). */
export async function probeOnce(probe: V1Probe, target: ProbeTarget): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? DEFAULT_TIMEOUT_S) * 1000;
  try {
    if (probe.tcpSocket) {
      const socket = await withTimeout(target.dial(probe.tcpSocket.host ?? target.podIP, portOf(probe.tcpSocket.port, target.container)), timeoutMs);
      socket.destroy();
      return true;
    }
    if (probe.httpGet) {
      const get = probe.httpGet;
      const port = portOf(get.port, target.container);
      const status = await withTimeout(httpStatus(await target.dial(get.host ?? target.podIP, port), {
        tls: get.scheme === 'HTTPS',
        host: get.host ?? target.podIP,
        port,
        path: get.path ?? '/',
        headers: get.httpHeaders ?? [],
      }), timeoutMs);
      return status >= 200 && status < 400;
    }
    if (probe.exec?.command) return (await target.exec(probe.exec.command, timeoutMs)) === 0;
    return false;
  } catch {
    return false;
  }
}

export function portOf(port: number | string, container: V1Container): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = container.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`container ${container.name} has no port named ${port}`);
  return named.containerPort;
}

function httpStatus(raw: Socket, request: { tls: boolean; host: string; port: number; path: string; headers: { name: string; value: string }[] }): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket: Socket = request.tls ? tls.connect({ socket: raw, rejectUnauthorized: false, servername: undefined }) : raw;
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (match) { socket.destroy(); resolve(Number(match[1])); }
      else if (head.includes('\r\n') || head.length > MAX_STATUS_LINE) { socket.destroy(); reject(new Error('bad status line')); }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('closed before a status line')));
    const headers = [`Host: ${request.host}:${request.port}`, 'User-Agent: kube-probe/1.30', 'Accept: */*', 'Connection: close',
      ...request.headers.map((h) => `${h.name}: ${h.value}`)];
    socket.write(`GET ${request.path} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('probe timed out')), ms);
    promise.then((value) => { clearTimeout(timer); resolve(value); }, (error: unknown) => { clearTimeout(timer); reject(error); });
  });
}

/**
 * Runs a probe on its schedule and reports each change of its verdict. The verdict starts as
 * `initial` and flips after successThreshold successes or failureThreshold failures in a row.
 */
export class ProbeLoop {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private successes = 0;
  private failures = 0;

  constructor(
    private readonly probe: V1Probe,
    private readonly target: ProbeTarget,
    private verdict: boolean,
    private readonly onChange: (ok: boolean) => void,
  ) {}

  start(): void {
    this.schedule((this.probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    const ok = await probeOnce(this.probe, this.target);
    if (this.stopped) return;
    if (ok) { this.successes++; this.failures = 0; } else { this.failures++; this.successes = 0; }
    if (!this.verdict && ok && this.successes >= (this.probe.successThreshold ?? 1)) this.flip(true);
    if (this.verdict && !ok && this.failures >= (this.probe.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD)) this.flip(false);
    this.schedule((this.probe.periodSeconds ?? DEFAULT_PERIOD_S) * 1000);
  }

  private flip(ok: boolean): void {
    this.verdict = ok;
    this.onChange(ok);
  }
}

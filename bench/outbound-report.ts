// The outbound benchmark's results: their shape (also the JSON file's), the side-by-side table
// and the per-role CPU table printed at the end. Leaves out measuring: outbound.ts and
// outbound-measure.ts. Used by bench/outbound.ts.
import type { CpuByRole } from './outbound-cpu.js';
import type { DownloadResult, RateResult } from './outbound-measure.js';
import type { ProfiledRun } from './outbound-profiling.js';

export const ROUTE_LABELS = {
  tpHttp: 'tp HTTP proxy',
  tpSocks: 'tp SOCKS5',
  sshSocks: 'ssh -D (SOCKS5) via API port-forward',
  direct: 'direct, in-cluster pod',
} as const;
export type RouteName = keyof typeof ROUTE_LABELS;

export type Workload = 'download' | 'keepAlive' | 'newConnections';

export interface Measurement<T> {
  result?: T;
  error?: string;
  /** CPU seconds by role while it ran. */
  cpu?: CpuByRole;
  wallSeconds: number;
}

export interface RouteResults {
  download?: Measurement<DownloadResult>;
  keepAlive?: Measurement<RateResult>;
  newConnections?: Measurement<RateResult>;
}

export interface OutboundReport {
  startedAt: string;
  finishedAt?: string;
  config: { downloadBytes: number; durationS: number; connections: number; target: string; daemonDebug?: string };
  environment: Record<string, string | number>;
  routes: Partial<Record<RouteName, RouteResults>>;
  notes: string[];
  profiles?: ProfiledRun[];
}

const MB = 1e6;

/** Roles that are not the path between client and server: left out of the path's CPU cost. */
const OFF_PATH = /^(other|load generator.*|HTTP server pod)$/;

export function formatTable(report: OutboundReport): string {
  const header = ['route', 'download MB/s', 'keep-alive req/s', 'p50 ms', 'new conn/s', 'p50 ms'];
  const costHeader = ['CPU on the path', 'per GiB', 'per request', '', 'per connection', ''];
  const rows: string[][] = [];
  const costs: string[][] = [];
  for (const name of Object.keys(ROUTE_LABELS) as RouteName[]) {
    const r = report.routes[name] ?? {};
    rows.push([
      ROUTE_LABELS[name],
      cell(r.download, (d) => (d.bytesPerSecond / MB).toFixed(1)),
      cell(r.keepAlive, rateCell),
      cell(r.keepAlive, (k) => k.latencyP50Ms?.toFixed(2) ?? '-'),
      cell(r.newConnections, rateCell),
      cell(r.newConnections, (k) => k.latencyP50Ms?.toFixed(2) ?? '-'),
    ]);
    costs.push([
      ROUTE_LABELS[name],
      cell(r.download, (d) => `${(pathCpu(r.download!) / (d.bytes / 2 ** 30)).toFixed(1)} s`),
      cell(r.keepAlive, (k) => `${((pathCpu(r.keepAlive!) / k.requests) * 1e6).toFixed(0)} µs`),
      '',
      cell(r.newConnections, (k) => `${((pathCpu(r.newConnections!) / k.requests) * 1e6).toFixed(0)} µs`),
      '',
    ]);
  }
  return `${align([header, ...rows])}\n\n${align([costHeader, ...costs])}`;
}

/** CPU seconds of every process between client and server (tp or ssh, API server, socat…). */
export function pathCpu(m: Measurement<unknown>): number {
  return Object.entries(m.cpu ?? {}).reduce((sum, [role, seconds]) => (OFF_PATH.test(role) ? sum : sum + seconds), 0);
}

/** For each measurement, the roles that spent the most CPU (seconds, and share of the wall time). */
export function formatCpu(report: OutboundReport, top = 5): string {
  const lines: string[] = [];
  for (const name of Object.keys(ROUTE_LABELS) as RouteName[]) {
    for (const workload of ['download', 'keepAlive', 'newConnections'] as Workload[]) {
      const m = report.routes[name]?.[workload];
      if (!m?.cpu) continue;
      const parts = Object.entries(m.cpu)
        .slice(0, top)
        .map(([role, seconds]) => `${role} ${seconds.toFixed(2)}s (${Math.round((seconds / m.wallSeconds) * 100)}%)`);
      lines.push(`${`${ROUTE_LABELS[name]} / ${workload}`.padEnd(58)} ${m.wallSeconds.toFixed(1).padStart(5)}s wall: ${parts.join(', ')}`);
    }
  }
  return lines.join('\n');
}

function rateCell(r: RateResult): string {
  return `${r.requestsPerSecond.toFixed(0)}${r.errors > 0 ? ` (${r.errors} err)` : ''}`;
}

function cell<T>(m: Measurement<T> | undefined, show: (result: T) => string): string {
  if (!m) return '-';
  if (m.error !== undefined) return 'failed';
  return m.result === undefined ? '-' : show(m.result);
}

function align(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((text, i) => (i === 0 ? text.padEnd(widths[i]!) : text.padStart(widths[i]!))).join('  ')).join('\n');
}

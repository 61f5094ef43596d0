// The outbound benchmark's results: their shape (also the JSON file's), the side-by-side table
// and the per-role CPU table printed at the end. Leaves out measuring: outbound.ts and
// outbound-measure.ts. Used by bench/outbound.ts.
import type { CpuByRole } from './outbound-cpu.js';
import type { DownloadResult, RateResult } from './outbound-measure.js';

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
  config: { downloadBytes: number; durationS: number; connections: number; target: string };
  environment: Record<string, string | number>;
  routes: Partial<Record<RouteName, RouteResults>>;
  notes: string[];
}

const MB = 1e6;

export function formatTable(report: OutboundReport): string {
  const header = ['route', 'download MB/s', 'keep-alive req/s', 'new conn/s'];
  const rows = (Object.keys(ROUTE_LABELS) as RouteName[]).map((name) => {
    const r = report.routes[name] ?? {};
    return [
      ROUTE_LABELS[name],
      cell(r.download, (d) => (d.bytesPerSecond / MB).toFixed(1)),
      cell(r.keepAlive, rateCell),
      cell(r.newConnections, rateCell),
    ];
  });
  return align([header, ...rows]);
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

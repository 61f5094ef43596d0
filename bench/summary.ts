// The ratios issue 16 set as goals, read from the benchmarks' JSON results (each ratio's two
// figures come from one benchmark's run, side by side), and the table `npm run bench` prints.
// A figure whose benchmark did not run or failed is left out ("-"). Used by bench/all.ts.

interface Row {
  what: string;
  value: number | undefined;
  /** How the value is shown: a ratio (×), Mbit/s or ms. */
  unit: '×' | 'Mbit/s' | 'ms';
  goal: string;
  met: boolean | undefined;
  from: string;
}

type Json = Record<string, unknown>;

/** Reads a nested field (a.b.c) of parsed JSON, or undefined. */
function get(value: unknown, path: string): unknown {
  let at: unknown = value;
  for (const key of path.split('.')) at = at !== null && typeof at === 'object' ? (at as Json)[key] : undefined;
  return at;
}

function num(value: unknown, path: string): number | undefined {
  const n = get(value, path);
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

/** A figure shown for reading the others, with no goal of its own. */
function info(what: string, value: number | undefined, from: string): Row {
  return { what, value, unit: '×', goal: '—', met: undefined, from };
}

function row(what: string, value: number | undefined, unit: Row['unit'], goal: string, test: (v: number) => boolean, from: string): Row {
  return { what, value, unit, goal, met: value === undefined ? undefined : test(value), from };
}

export function summarize(results: Record<string, unknown>): Row[] {
  const { intercept, tunnel, outbound, wan, cli } = results as Record<string, Json | undefined>;
  const tunnelRows = (get(tunnel, 'rows') as Json[] | undefined) ?? [];
  const tunnelRow = (path: string) => tunnelRows.find((r) => r.path === path);
  const wanResults = (get(wan, 'results') as Json[] | undefined) ?? [];
  const wanAt = (route: string) => wanResults.find((r) => r.route === route && r.delayMs === 20);
  // The p99-under-a-download rounds of one route: undelayed ('sharing') or across the link ('sharingLink.results').
  const sharingIn = (path: string, route: string) => ((get(wan, path) as Json[] | undefined) ?? []).find((s) => s.route === route);
  const sharingOf = (route: string) => sharingIn('sharing', route);
  const sharing = sharingOf('tpSocks');
  const linkSharingOf = (route: string) => sharingIn('sharingLink.results', route);
  const cliRows = (get(cli, 'rows') as Json[] | undefined) ?? [];
  const cliWall = (name: string) => num(cliRows.find((r) => r.name === name), 'wallMs');
  const route = (name: string, workload: string, field: string) => num(outbound, `routes.${name}.${workload}.result.${field}`);
  const tpAt20 = num(wanAt('tpSocks'), 'bulk1Mbps');
  return [
    row('intercepted bulk / same bulk to the pods', ratio(num(intercept, 'interceptedBulk.mibPerS'), num(intercept, 'podsBulk.mibPerS')), '×', '≥ 0.5', (v) => v >= 0.5, 'intercept'),
    // Not goals: what the intercepted topology allows with plain relays in tp's places (intercept-ceiling.ts).
    info('  plain relays on the same hops / pods', ratio(num(intercept, 'ceilingBulk.mibPerS'), num(intercept, 'podsBulk.mibPerS')), 'intercept'),
    info('  intercepted bulk / plain relays', ratio(num(intercept, 'interceptedBulk.mibPerS'), num(intercept, 'ceilingBulk.mibPerS')), 'intercept'),
    row('intercepted keep-alive req/s / pods', ratio(num(intercept, 'intercepted.rps'), num(intercept, 'pods.rps')), '×', '≥ 0.6', (v) => v >= 0.6, 'intercept'),
    row('intercepted p99 / pods p99', ratio(num(intercept, 'intercepted.p99'), num(intercept, 'pods.p99')), '×', '≤ 2', (v) => v <= 2, 'intercept'),
    // Not goals: the same keep-alive requests through plain relays in tp's places, one chain per connection.
    info('  plain relays: keep-alive req/s / pods', ratio(num(intercept, 'ceilingRequests.rps'), num(intercept, 'pods.rps')), 'intercept'),
    info('  intercepted req/s / plain relays', ratio(num(intercept, 'intercepted.rps'), num(intercept, 'ceilingRequests.rps')), 'intercept'),
    info('  plain relays: p99 / pods p99', ratio(num(intercept, 'ceilingRequests.p99'), num(intercept, 'pods.p99')), 'intercept'),
    row('tunnel CPU per stream open / ssh -L', ratio(num(tunnelRow('tp ws'), 'cpuMsPerOpen'), num(tunnelRow('ssh -L'), 'cpuMsPerOpen')), '×', '≤ 1.0', (v) => v <= 1, 'tunnel'),
    // Not a goal: Node's own floor (two processes joined by framed TCP, bench/tunnel-floor.ts) when the run measured it.
    info('  Node floor per open / ssh -L', ratio(num(tunnelRow('node mux'), 'cpuMsPerOpen'), num(tunnelRow('ssh -L'), 'cpuMsPerOpen')), 'tunnel'),
    row('SOCKS5 keep-alive req/s / ssh -D', ratio(route('tpSocks', 'keepAlive', 'requestsPerSecond'), route('sshSocks', 'keepAlive', 'requestsPerSecond')), '×', '≥ 1.0', (v) => v >= 1, 'outbound'),
    row('SOCKS5 new connections/s / ssh -D', ratio(route('tpSocks', 'newConnections', 'requestsPerSecond'), route('sshSocks', 'newConnections', 'requestsPerSecond')), '×', '≥ 1.0', (v) => v >= 1, 'outbound'),
    row('HTTP proxy keep-alive req/s / SOCKS5', ratio(route('tpHttp', 'keepAlive', 'requestsPerSecond'), route('tpSocks', 'keepAlive', 'requestsPerSecond')), '×', '≥ 0.9', (v) => v >= 0.9, 'outbound'),
    row('bulk download / ssh -D', ratio(route('tpSocks', 'download', 'bytesPerSecond'), route('sshSocks', 'download', 'bytesPerSecond')), '×', '≥ 1.3', (v) => v >= 1.3, 'outbound'),
    row('one stream at 20 ms one-way', tpAt20, 'Mbit/s', '≥ 160', (v) => v >= 160, 'wan'),
    row('one stream at 20 ms / ssh -D', ratio(tpAt20, num(wanAt('sshSocks'), 'bulk1Mbps')), '×', '≥ 1.0', (v) => v >= 1, 'wan'),
    // Not a goal: eight concurrent downloads across the same delay.
    info('  eight streams at 20 ms / ssh -D', ratio(num(wanAt('tpSocks'), 'bulk8Mbps'), num(wanAt('sshSocks'), 'bulk8Mbps')), 'wan'),
    row('small-request p99 under bulk / alone', num(sharing, 'ratio'), '×', '≤ 2', (v) => v <= 2, 'wan'),
    // Not a goal: the same measurement through ssh -D on the same path, in the same run.
    info('  ssh -D: p99 under bulk / alone', num(sharingOf('sshSocks'), 'ratio'), 'wan'),
    // The same across a bottleneck link (bench/delay-relay.ts with a rate), where the queue is the senders' windows, not the CPU.
    row('  the same across a 100 Mbit/s link', num(linkSharingOf('tpSocks'), 'ratio'), '×', '≤ 2', (v) => v <= 2, 'wan'),
    info('  ssh -D across the link', num(linkSharingOf('sshSocks'), 'ratio'), 'wan'),
    row('tp version wall time', cliWall('tp version'), 'ms', '≤ 150', (v) => v <= 150, 'cli'),
    row('tp status wall time (daemon up)', cliWall('tp status'), 'ms', '≤ 250', (v) => v <= 250, 'cli'),
    row('tp run -- true wall time (daemon up)', cliWall('tp run -- true'), 'ms', '≤ 250', (v) => v <= 250, 'cli'),
  ];
}

export function formatSummary(rows: Row[]): string {
  const show = (r: Row): string => (r.value === undefined ? '-' : r.unit === '×' ? `${r.value.toFixed(2)}×` : `${r.value.toFixed(0)} ${r.unit}`);
  const lines = [`${'what'.padEnd(42)}${'figure'.padStart(12)}${'goal'.padStart(10)}  met   from`];
  for (const r of rows) lines.push(`${r.what.padEnd(42)}${show(r).padStart(12)}${r.goal.padStart(10)}  ${r.met === undefined ? '-  ' : r.met ? 'yes' : 'no '}   ${r.from}`);
  return lines.join('\n');
}

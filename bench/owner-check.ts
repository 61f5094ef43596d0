// `npm run bench:owner-check`: what the front doors' owner check (src/proxy/peer-owner.ts) costs.
// Holds N loopback connections in this process (2N rows in /proc/net/tcp), then measures, in one
// run, side by side:
//   - reference: one plain read of /proc/net/tcp (the kernel's cost of printing the table, which
//     every /proc lookup has to pay at least once);
//   - each way of looking up (the netlink helper tp-peer-uid, and /proc alone): one lookup at a
//     time (a new connection on an otherwise idle daemon), and N lookups at once (a burst of N
//     new connections; /proc answers them with batched reads).
// Prints wall and CPU time for each and the ratios to the reference. Not a test: nothing asserts.
// Writes bench/results/owner-check-<date>.json.
// Env: BENCH_CONNECTIONS (comma list, default 100,1000,8000; the process needs 2N descriptors).
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tcpPeerUid, useSockDiag } from '../src/proxy/peer-owner.js';
import { PEER_UID_HELPER } from '../src/proxy/sock-diag.js';

const COUNTS = (process.env.BENCH_CONNECTIONS ?? '100,1000,8000').split(',').map(Number);
const ROUNDS = 20;
const RESULTS_DIR = fileURLToPath(new URL('results/', import.meta.url));

interface Timing {
  wallMs: number;
  cpuMs: number;
}

async function timed(run: () => Promise<unknown> | unknown): Promise<Timing> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await run();
  const used = process.cpuUsage(cpu);
  return { wallMs: Number(process.hrtime.bigint() - start) / 1e6, cpuMs: (used.user + used.system) / 1000 };
}

async function hold(count: number): Promise<{ accepted: Socket[]; close: () => void }> {
  const server = createServer();
  const accepted: Socket[] = [];
  server.on('connection', (socket) => accepted.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const clients: Socket[] = [];
  for (let i = 0; i < count; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, count - i) }, () => new Promise<void>((resolve) => clients.push(connect(port, '127.0.0.1', resolve)))));
  }
  while (accepted.length < count) await new Promise((resolve) => setTimeout(resolve, 10));
  return {
    accepted,
    close: () => {
      for (const socket of [...clients, ...accepted]) socket.destroy();
      server.close();
    },
  };
}

const ends = (socket: Socket) => [{ address: socket.localAddress!, port: socket.localPort! }, { address: socket.remoteAddress!, port: socket.remotePort! }] as const;
const fmt = (t: Timing) => `${t.wallMs.toFixed(1)} ms wall, ${t.cpuMs.toFixed(1)} ms CPU`;

const report: { count: number; rows: number; referenceMs: Timing; lookups: Record<string, { single: Timing; burst: Timing }> }[] = [];
for (const count of COUNTS) {
  const { accepted, close } = await hold(count);
  const rows = readFileSync('/proc/net/tcp', 'latin1').split('\n').length - 2;
  const reference = await timed(() => {
    for (let i = 0; i < ROUNDS; i++) readFileSync('/proc/net/tcp', 'latin1');
  });
  const per = (t: Timing) => ({ wallMs: t.wallMs / ROUNDS, cpuMs: t.cpuMs / ROUNDS });
  console.log(`${count} connections held (${rows} rows in /proc/net/tcp):`);
  console.log(`  reference, one read of the table:      ${fmt(per(reference))}`);
  const entry = { count, rows, referenceMs: per(reference), lookups: {} as Record<string, { single: Timing; burst: Timing }> };
  report.push(entry);
  for (const [way, helper] of [['netlink', PEER_UID_HELPER], ['/proc', undefined]] as const) {
    useSockDiag(helper);
    await tcpPeerUid(...ends(accepted[0])); // starts the helper
    const single = await timed(async () => {
      for (let i = 0; i < ROUNDS; i++) await tcpPeerUid(...ends(accepted[i % accepted.length]));
    });
    let answered = 0;
    const burst = await timed(async () => {
      const uids = await Promise.all(accepted.map((socket) => tcpPeerUid(...ends(socket))));
      answered = uids.filter((uid) => uid === process.getuid?.()).length;
    });
    entry.lookups[way] = { single: per(single), burst };
    console.log(`  ${way.padEnd(8)} one lookup:               ${fmt(per(single))}  (${(single.wallMs / reference.wallMs).toFixed(3)}x the reference)`);
    console.log(`  ${way.padEnd(8)} ${String(count).padStart(5)} lookups at once:    ${fmt(burst)}  (${(burst.wallMs / (reference.wallMs / ROUNDS)).toFixed(2)}x one read; ${answered} of ${count} answered with our uid)`);
  }
  close();
}
mkdirSync(RESULTS_DIR, { recursive: true });
const file = join(RESULTS_DIR, `owner-check-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ rounds: ROUNDS, loadAverage: loadavg(), report }, null, 2) + '\n');
console.log(`results: ${file}`);

// The traffic-manager goes away in the middle of downloads. Three downloads of a close-delimited
// HTTP/1.0 body (no Content-Length: only the connection's end says the body is complete, so a
// reset passed on as an end would look like success) run at once, through SOCKS5, through the HTTP
// proxy and through `tp run`; the manager pod is force-deleted (`kubectl delete --grace-period=0
// --force`, as a user would) once each has received some bytes. Every client must see an error,
// and the daemon must reach the Deployment's new manager pod by itself, so new requests on every
// path succeed again within RECOVERY_BOUND_MS.
import test from 'ava';
import { join } from 'node:path';
import { kubectl } from '../helpers/cluster.js';
import { eventually } from '../helpers/laptop.js';
import { bulkSha256, curlThrough, fileSha256, linkStatus, managerPods, setUpFaults, startDownload, tearDownFaults, type Download, type FaultEnv } from './helpers.js';

/** New requests succeed on every path within this long after the manager pod was deleted. */
const RECOVERY_BOUND_MS = 90_000;
/**
 * Big and slow enough (256 MiB at 1 MiB/s) to outlast the old manager: it drains its tunnels for
 * a while on SIGTERM, and the kubelet kills it after the pod's grace period (30 s by default).
 */
const BIG = 256 << 20;
const RATE = '1M';
const SMALL = 1 << 20;
const PATHS = ['socks5', 'http-proxy', 'tp-run'] as const;

let env: FaultEnv;
let listeners: { socks: string; http: string };

test.before(async () => {
  env = await setUpFaults('tp-fault-mgr');
  listeners = (JSON.parse((await env.laptop.tp(['status', '--output', 'json'])).stdout) as { listeners: { socks: string; http: string } }).listeners;
});

test.after.always(async () => {
  await tearDownFaults(env);
});

const bulkUrl = (bytes: number) => `http://bulk.${env.namespace}/${bytes}`;

test.serial('the manager force-deleted mid-download: every client sees an error, and new requests succeed on every path', async (t) => {
  const before = await managerPods(env);
  t.is(before.length, 1);
  const downloads: Download[] = PATHS.map((path) => {
    const file = join(env.laptop.home, `big-${path}`);
    return startDownload(env.laptop, path, curlThrough(path, listeners, bulkUrl(BIG), ['--limit-rate', RATE, '--max-time', '600', '-o', file]), file);
  });
  await eventually(async () => {
    const slow = downloads.filter((d) => d.received() < SMALL);
    if (slow.length > 0) throw new Error(`still waiting for the first MiB: ${slow.map((d) => `${d.name} ${d.received()} B`).join(', ')}`);
  }, 60_000, 200);

  const killedAt = Date.now();
  await kubectl(['-n', env.managerNamespace, 'delete', 'pod', before[0], '--grace-period=0', '--force']);
  // While the cut downloads end, new requests on every path are tried until they succeed.
  const recovered = Promise.all(PATHS.map(async (path) => {
    const file = join(env.laptop.home, `small-${path}`);
    await eventually(async () => {
      const { code, stderr } = await startDownload(env.laptop, path, curlThrough(path, listeners, bulkUrl(SMALL), ['--fail', '--max-time', '20', '-o', file]), file).done;
      if (code !== 0) throw new Error(`${path}: curl exit ${code}: ${stderr.trim()}`);
    }, RECOVERY_BOUND_MS, 250);
    return { path, afterMs: Date.now() - killedAt, sha256: fileSha256(file) };
  }));
  const ends = [];
  for (const download of downloads) {
    const { code, stderr } = await download.done;
    const received = download.received();
    t.log(`${download.name}: curl exit ${code} after ${received} of ${BIG} bytes, ${Date.now() - killedAt} ms after the delete: ${stderr.trim().split('\n').pop()}`);
    ends.push({ path: download.name, failed: code !== 0, short: received < BIG });
  }
  t.deepEqual(ends, PATHS.map((path) => ({ path, failed: true, short: true })), 'a download cut short must end in an error');
  for (const { path, afterMs, sha256 } of await recovered) {
    t.log(`${path}: first complete new download ${afterMs} ms after the manager pod was deleted`);
    t.is(sha256, bulkSha256(SMALL), `${path} got different bytes`);
  }

  // tp status tells what happened: connected to the new pod, and the outage with its times and cause.
  const after = await linkStatus(env);
  t.is(after.state, 'connected');
  t.not(after.managerPod, before[0]);
  t.true(after.reconnects > 0);
  t.truthy(after.outage?.until, JSON.stringify(after.outage));
  t.true(Date.parse(after.outage!.since) >= killedAt - 1000 && Date.parse(after.outage!.until!) > Date.parse(after.outage!.since), JSON.stringify(after.outage));
  t.regex(after.outage?.lastError ?? '', /\S/);
  t.log(`outage as tp status reports it: ${JSON.stringify(after.outage)}`);
  t.regex((await env.laptop.tp(['status'])).stdout, /last outage \S+ for \d+\.\d s/);
});

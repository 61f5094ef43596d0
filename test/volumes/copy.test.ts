// The volume sync stream's two ends over a real loopback socket and real directories: the agent's
// serveVolumeStream on a "pod" dir laid out like a kubelet's ConfigMap volume, the laptop's
// VolumeCopy writing a copy. Snapshot (symlinks, modes, empty dirs), live changes (a `..data`
// swap, a new file, a removal), the cap naming the mount, exclusion, rw with its conflict rule,
// and a hostile path refused without writing outside the root.
import test from 'ava';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VolumeCopy } from '../../src/volumes/copy.js';
import { serveVolumeStream, type AgentMount } from '../../src/volumes/source.js';
import { applyEntry } from '../../src/volumes/apply.js';
import { encodeSyncFrame, SyncDecoder, SYNC_VERSION, type SyncFrame } from '../../src/volumes/sync-frames.js';

async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer({ allowHalfOpen: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const client = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', allowHalfOpen: true });
  const agentEnd = await accepted;
  server.close();
  return [agentEnd, client];
}

async function until<T>(probe: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = probe();
      if (value !== undefined && value !== false) return value;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function pod(t: { teardown(fn: () => void): void }): { root: string; config: string; cache: string; mounts: AgentMount[]; laptop: string } {
  const root = mkdtempSync(join(tmpdir(), 'tp-vol-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const config = join(root, 'pod', 'config');
  const cache = join(root, 'pod', 'cache');
  mkdirSync(join(config, '..2026_01'), { recursive: true });
  writeFileSync(join(config, '..2026_01', 'app.conf'), 'colour=blue\n', { mode: 0o644 });
  symlinkSync('..2026_01', join(config, '..data'));
  symlinkSync('..data/app.conf', join(config, 'app.conf'));
  mkdirSync(join(cache, 'empty'), { recursive: true });
  chmodSync(join(cache, 'empty'), 0o750);
  writeFileSync(join(cache, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  chmodSync(join(cache, 'run.sh'), 0o755);
  return {
    root, config, cache, laptop: join(root, 'laptop'),
    mounts: [{ path: '/etc/app', at: config, rw: false }, { path: '/var/cache/app', at: cache, rw: true }],
  };
}

async function copyOf(mounts: AgentMount[], dir: string, options: { maxBytes?: number; exclude?: string[]; rw?: boolean } = {}): Promise<VolumeCopy> {
  const [agentEnd, laptopEnd] = await socketPair();
  serveVolumeStream(agentEnd, mounts, 'test', 200);
  return new VolumeCopy(laptopEnd, { dir, name: 'test', maxBytes: options.maxBytes ?? 1 << 20, exclude: options.exclude ?? [], rw: options.rw ?? false });
}

test('the first copy keeps symlinks, modes and empty directories, laid out by the mount paths', async (t) => {
  const p = pod(t);
  const copy = await copyOf(p.mounts, p.laptop);
  t.teardown(() => copy.close());
  t.deepEqual(await copy.ready, [{ path: '/etc/app', rw: false }, { path: '/var/cache/app', rw: false }]);
  t.is(readFileSync(join(p.laptop, 'etc/app/app.conf'), 'utf8'), 'colour=blue\n');
  t.is(readlinkSync(join(p.laptop, 'etc/app/app.conf')), '..data/app.conf');
  t.is(readlinkSync(join(p.laptop, 'etc/app/..data')), '..2026_01');
  t.is(lstatSync(join(p.laptop, 'var/cache/app/run.sh')).mode & 0o777, 0o755);
  t.true(lstatSync(join(p.laptop, 'var/cache/app/empty')).isDirectory());
  t.is(lstatSync(join(p.laptop, 'var/cache/app/empty')).mode & 0o777, 0o750);
});

test('changes follow: a ..data swap, a new file, a removal; close() removes the copy', async (t) => {
  const p = pod(t);
  const copy = await copyOf(p.mounts, p.laptop);
  await copy.ready;
  mkdirSync(join(p.config, '..2026_02'));
  writeFileSync(join(p.config, '..2026_02', 'app.conf'), 'colour=green\n');
  symlinkSync('..2026_02', join(p.config, '..data_tmp'));
  renameSync(join(p.config, '..data_tmp'), join(p.config, '..data'));
  rmSync(join(p.config, '..2026_01'), { recursive: true });
  writeFileSync(join(p.cache, 'tick'), '1');
  rmSync(join(p.cache, 'run.sh'));
  await until(() => readFileSync(join(p.laptop, 'etc/app/app.conf'), 'utf8') === 'colour=green\n', 'the swapped ConfigMap');
  await until(() => readFileSync(join(p.laptop, 'var/cache/app/tick'), 'utf8') === '1', 'the new file');
  await until(() => !existsSync(join(p.laptop, 'var/cache/app/run.sh')), 'the removal');
  t.false(existsSync(join(p.laptop, 'etc/app/..2026_01')), 'the old timestamped dir is gone');
  await copy.close();
  t.false(existsSync(p.laptop));
});

test('a copy over the cap fails naming the mount that crosses it; excluding that mount fits', async (t) => {
  const p = pod(t);
  writeFileSync(join(p.cache, 'big.bin'), Buffer.alloc(4096));
  const over = await copyOf(p.mounts, p.laptop, { maxBytes: 1024 });
  await t.throwsAsync(over.ready, { message: /mount \/var\/cache\/app takes the copy to \d+ bytes, over the cap of 1024/ });
  t.regex(over.failure ?? '', /\/var\/cache\/app/);
  await over.close();
  const fits = await copyOf(p.mounts, p.laptop, { maxBytes: 1024, exclude: ['/var/cache/app'] });
  t.teardown(() => fits.close());
  t.deepEqual(await fits.ready, [{ path: '/etc/app', rw: false }]);
  t.false(existsSync(join(p.laptop, 'var/cache')));
  writeFileSync(join(p.config, '..2026_01', 'grown'), Buffer.alloc(2048));
  await until(() => fits.failure ?? undefined, 'the copy to stop when the pod grows over the cap');
  t.regex(fits.failure!, /mount \/etc\/app takes the copy to \d+ bytes, over the cap of 1024/);
});

test('rw: a laptop write reaches the pod; the pod\'s later change wins after it; a removal reaches it too', async (t) => {
  const p = pod(t);
  const copy = await copyOf(p.mounts, p.laptop, { rw: true });
  t.teardown(() => copy.close());
  t.deepEqual(await copy.ready, [{ path: '/etc/app', rw: false }, { path: '/var/cache/app', rw: true }]);
  writeFileSync(join(p.laptop, 'var/cache/app/note'), 'from the laptop');
  await until(() => readFileSync(join(p.cache, 'note'), 'utf8') === 'from the laptop', 'the laptop write in the pod');
  writeFileSync(join(p.cache, 'note'), 'from the pod');
  await until(() => readFileSync(join(p.laptop, 'var/cache/app/note'), 'utf8') === 'from the pod', 'the pod change on the laptop');
  rmSync(join(p.laptop, 'var/cache/app/note'));
  await until(() => !existsSync(join(p.cache, 'note')), 'the laptop removal in the pod');
  t.is(readFileSync(join(p.config, 'app.conf'), 'utf8'), 'colour=blue\n');
});

test('the agent refuses a write to a read-only mount, and any write without rw, with an error frame', async (t) => {
  for (const rw of [true, false]) {
    const p = pod(t);
    const [agentEnd, laptopEnd] = await socketPair();
    serveVolumeStream(agentEnd, p.mounts, 'test', 200);
    const decoder = new SyncDecoder();
    const frames: SyncFrame[] = [];
    laptopEnd.on('data', (chunk: Buffer) => frames.push(...decoder.push(chunk)));
    laptopEnd.write(encodeSyncFrame({ t: 'hello', v: SYNC_VERSION, maxBytes: 1 << 20, exclude: [], rw }));
    await until(() => frames.some((f) => f.t === 'synced'), 'the snapshot');
    const target = rw ? 'etc/app/evil' : 'var/cache/app/evil';
    laptopEnd.write(encodeSyncFrame({ t: 'file', p: target, mode: 0o644, body: Buffer.from('x') }));
    const error = await until(() => frames.find((f) => f.t === 'error'), 'the error frame');
    t.regex((error as { message: string }).message, new RegExp(`${target}, which is not in a read-write mount`));
    t.false(existsSync(join(p.config, 'evil')) || existsSync(join(p.cache, 'evil')));
    laptopEnd.destroy();
  }
});

test('an entry whose parent is a symlink is refused: nothing lands outside the root', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tp-vol-apply-'));
  const outside = mkdtempSync(join(tmpdir(), 'tp-vol-outside-'));
  t.teardown(() => [root, outside].forEach((d) => rmSync(d, { recursive: true, force: true })));
  await applyEntry(root, 'etc', { t: 'link', p: 'etc', target: outside });
  await t.throwsAsync(applyEntry(root, 'etc/evil', { t: 'file', p: 'etc/evil', mode: 0o644, body: Buffer.from('x') }), { message: /parent is not a directory/ });
  t.false(existsSync(join(outside, 'evil')));
});

test('a new copy into a directory an earlier one filled removes what the pod no longer has', async (t) => {
  const p = pod(t);
  const first = await copyOf(p.mounts, p.laptop);
  await first.ready;
  await first.detach();
  t.true(existsSync(join(p.laptop, 'var/cache/app/run.sh')), 'detach leaves the directory');
  rmSync(join(p.cache, 'run.sh'));
  writeFileSync(join(p.laptop, 'var/cache/app/stray'), 'left by nobody');
  const second = await copyOf(p.mounts, p.laptop);
  t.teardown(() => second.close());
  await second.ready;
  t.false(existsSync(join(p.laptop, 'var/cache/app/run.sh')));
  t.false(existsSync(join(p.laptop, 'var/cache/app/stray')));
  t.is(readFileSync(join(p.laptop, 'etc/app/app.conf'), 'utf8'), 'colour=blue\n');
});

test('onStop says whether the agent refused (no point following again) or the stream just ended', async (t) => {
  const p = pod(t);
  writeFileSync(join(p.cache, 'big.bin'), Buffer.alloc(4096));
  const stops: [string, boolean][] = [];
  const [agentEnd, laptopEnd] = await socketPair();
  serveVolumeStream(agentEnd, p.mounts, 'test', 200);
  const refused = new VolumeCopy(laptopEnd, { dir: p.laptop, name: 't', maxBytes: 1024, exclude: [], rw: false, onStop: (reason, byAgent) => stops.push([reason, byAgent]) });
  await t.throwsAsync(refused.ready);
  await until(() => stops.length > 0 || undefined, 'onStop');
  t.true(stops[0][1]);
  const [agentEnd2, laptopEnd2] = await socketPair();
  serveVolumeStream(agentEnd2, p.mounts, 'test', 200);
  const ended = new VolumeCopy(laptopEnd2, { dir: p.laptop, name: 't', maxBytes: 1 << 20, exclude: [], rw: false, onStop: (reason, byAgent) => stops.push([reason, byAgent]) });
  t.teardown(() => ended.close());
  await ended.ready;
  agentEnd2.destroy();
  await until(() => stops.length > 1 || undefined, 'the second onStop');
  t.false(stops[1][1]);
  t.is(stops.length, 2, 'once per copy');
});

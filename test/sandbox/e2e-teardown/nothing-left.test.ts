// Run by run-tests.ts after `sandbox down`: nothing the sandbox made may be left on the machine —
// no netns, link, nft table, /etc/netns or /run/netns entry with its prefix, no process of this
// checkout's sandbox (another checkout's may run beside it), no state dir. Not in the default ava
// run (it only means something right after a down).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { CHECKOUT, NETWORK_PREFIX, sandboxPaths } from '../state.js';

const execFileAsync = promisify(execFile);
const paths = sandboxPaths();

async function lines(cmd: string, args: string[]): Promise<string[]> {
  const { stdout } = await execFileAsync(cmd, args, { encoding: 'utf8' });
  return stdout.split('\n').filter(Boolean);
}

test('no network namespace with the sandbox prefix is left', async (t) => {
  t.deepEqual((await lines('ip', ['netns', 'list'])).filter((l) => l.startsWith(`${NETWORK_PREFIX}-`)), []);
  for (const dir of ['/run/netns', '/etc/netns']) {
    const left = existsSync(dir) ? readdirSync(dir).filter((name) => name.startsWith(NETWORK_PREFIX)) : [];
    t.deepEqual(left, [], dir);
  }
});

test('no host link or nftables table with the sandbox prefix is left', async (t) => {
  t.deepEqual((await lines('ip', ['-o', 'link', 'show'])).filter((l) => l.includes(`: ${NETWORK_PREFIX}`)), []);
  t.deepEqual((await lines('nft', ['list', 'tables'])).filter((l) => l.includes(NETWORK_PREFIX)), []);
});

test('no route into the pod or service network is left on the host', async (t) => {
  const routes = await lines('ip', ['route', 'show']);
  t.deepEqual(routes.filter((r) => r.includes(NETWORK_PREFIX)), []);
});

test('no sandbox process and no state dir are left', (t) => {
  const mine = String(process.pid);
  const left: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name) && name !== mine)) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (cmdline.includes(join(CHECKOUT, 'test/sandbox/sandbox.ts')) || cmdline.includes(paths.dir) || cmdline.includes(`netns exec ${NETWORK_PREFIX}-`)) left.push(`${pid}: ${cmdline}`);
  }
  t.deepEqual(left, []);
  t.false(existsSync(paths.dir), `${paths.dir} is removed`);
});

// `tp run --netns` end to end: the command runs in tp's capture namespace as the unprivileged
// test user. busybox-static (no dynamic linking, so no LD_PRELOAD; its own resolver reading
// /etc/resolv.conf) reaches cluster Services by name only with --netns; curl works as under
// plain tp run; the namespace and its relay are gone after the command, and after tp is killed.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnAsUser } from '../../helpers/unprivileged.js';
import { connect, ensureDemoAndManager, eventually, newLaptop, TP_BIN, type Laptop } from '../helpers/laptop.js';

let laptop: Laptop;

test.before(async () => {
  laptop = newLaptop('netns');
  await ensureDemoAndManager(laptop);
  await connect(laptop);
});

test.after.always(async () => {
  await laptop?.cleanup();
});

async function tpRun(command: string[], tpFlags: string[] = [], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawnAsUser('env', ['-i', ...Object.entries(laptop.env).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`), process.execPath, TP_BIN, 'run', ...tpFlags, '--', ...command]);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin!.end(input ?? '');
  const code = await new Promise<number>((resolve) => child.once('close', (exitCode) => resolve(exitCode ?? -1)));
  return { code, stdout, stderr };
}

/** Process ids of the test user's capture relays (by executable name). */
function relays(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'tp-relay';
      } catch {
        return false;
      }
    })
    .map(Number);
}

function parentOf(pid: number): number {
  return Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function netnsFiles(): string[] {
  const dir = join(laptop.home, 'state', 'tp');
  return readdirSync(dir).filter((name) => name.startsWith('netns-'));
}

test.serial('busybox-static wget reaches a Service by name with --netns, and not without it', async (t) => {
  const inside = await tpRun(['busybox', 'wget', '-Y', 'off', '-qO-', 'http://hello.default/'], ['--netns']);
  t.is(inside.code, 0, inside.stderr);
  t.regex((JSON.parse(inside.stdout) as { pod: string }).pod, /^hello-/);
  const outside = await tpRun(['busybox', 'wget', '-Y', 'off', '-qO-', 'http://hello.default/']);
  t.not(outside.code, 0, outside.stdout);
});

test.serial('busybox-static nc talks to the tcp-echo Service by name with --netns, and not without it', async (t) => {
  const inside = await tpRun(['busybox', 'nc', 'tcp-echo.default', '9000'], ['--netns'], 'hello through the namespace\n');
  t.is(inside.code, 0, inside.stderr);
  t.true(inside.stdout.includes('hello through the namespace'), inside.stdout);
  const outside = await tpRun(['busybox', 'nc', 'tcp-echo.default', '9000'], [], 'hello from outside\n');
  t.false(outside.stdout.includes('hello from outside'));
  t.not(outside.code, 0);
});

test.serial('curl behaves as under plain tp run', async (t) => {
  for (const flags of [['--netns'], []]) {
    const result = await tpRun(['curl', '-sS', '--fail', '--max-time', '10', 'http://hello.default/'], flags);
    t.is(result.code, 0, result.stderr);
    t.regex((JSON.parse(result.stdout) as { pod: string }).pod, /^hello-/);
  }
});

test.serial('the command runs as the user, without capabilities, and its exit code comes back', async (t) => {
  const result = await tpRun(['sh', '-c', 'id -u; grep -E "^Cap(Eff|Prm|Amb)" /proc/self/status; exit 7'], ['--netns']);
  t.is(result.code, 7, result.stderr);
  const [uid, ...caps] = result.stdout.trim().split('\n');
  t.not(uid, '0');
  t.deepEqual(caps.map((line) => line.split(/\s+/)[1]), ['0000000000000000', '0000000000000000', '0000000000000000']);
});

test.serial('the relay and the namespace files are gone after the command exits, and after tp is killed', async (t) => {
  const before = relays();
  t.deepEqual(before, [], 'no relay before');
  const done = await tpRun(['true'], ['--netns']);
  t.is(done.code, 0, done.stderr);
  t.deepEqual(relays(), []);
  t.deepEqual(netnsFiles(), []);

  const running = tpRun(['sleep', '600'], ['--netns']);
  const [relay] = await eventually(async () => {
    const found = relays();
    if (found.length !== 1) throw new Error(`relays: ${found.join(' ')}`);
    return found;
  });
  const command = await eventually(async () => {
    const children = readFileSync(`/proc/${relay}/task/${relay}/children`, 'utf8').trim();
    if (!children) throw new Error('no command yet');
    return Number(children.split(' ')[0]);
  });
  const tp = parentOf(parentOf(relay));
  t.regex(readFileSync(`/proc/${tp}/cmdline`, 'utf8'), /run\.js/);
  process.kill(tp, 'SIGKILL');
  await running;
  await eventually(async () => {
    if (alive(relay) || alive(command)) throw new Error('relay or command still running');
  });
  t.false(alive(relay));
  t.false(alive(command));
});

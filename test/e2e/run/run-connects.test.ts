// `tp run` with no daemon running: it connects for the command and disconnects afterwards (unless
// --keep-connected), and its switches turn layers off — which also shows that what carried a
// program in the other tests was the layer under test.
import test from 'ava';
import { ensureDemoAndManager, newLaptop, type Laptop } from '../helpers/laptop.js';

let laptop: Laptop;

test.before(async () => {
  laptop = newLaptop('run-connects');
  await ensureDemoAndManager(laptop);
});

test.after.always(async () => {
  await laptop?.cleanup();
});

async function tpRun(args: string[], timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    return { code: 0, ...(await laptop.tp(['run', ...args], { timeoutMs })) };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

async function daemonRunning(): Promise<boolean> {
  const { stdout } = await laptop.tp(['status', '--output', 'json']);
  return (JSON.parse(stdout) as { connected?: boolean; phase?: string } | null)?.phase === 'connected';
}

test.serial('with no daemon, tp run connects for the command and disconnects afterwards', async (t) => {
  t.false(await daemonRunning());
  const result = await tpRun(['--', 'curl', '-sS', '--fail', '--noproxy', '*', '--max-time', '10', 'http://hello.default/']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /"pod"/);
  t.false(await daemonRunning());
});

test.serial('--keep-connected leaves the daemon it started running', async (t) => {
  const result = await tpRun(['--keep-connected', '--', 'true']);
  t.is(result.code, 0, result.stderr);
  t.true(await daemonRunning());
});

test.serial('--no-preload leaves a program that ignores proxy settings outside the cluster', async (t) => {
  const args = ['curl', '-sS', '--noproxy', '*', '--max-time', '5', 'http://hello.default/'];
  t.not((await tpRun(['--no-preload', '--', ...args])).code, 0);
  t.not((await tpRun(['--env-only', '--', ...args])).code, 0);
  // Proxy settings alone still carry a program that honours them.
  t.is((await tpRun(['--env-only', '--', 'curl', '-sS', '--fail', '--max-time', '10', 'http://hello.default/'])).code, 0);
});

test.serial('--no-node-shim with --no-preload leaves Node outside the cluster; the Node preload alone carries it', async (t) => {
  const script = 'require("net").connect(9000, "tcp-echo.default").on("connect", () => process.exit(0)).on("error", () => process.exit(9))';
  t.is((await tpRun(['--no-preload', '--no-node-shim', '--', process.execPath, '-e', script])).code, 9);
  t.is((await tpRun(['--no-preload', '--', process.execPath, '-e', script])).code, 0);
});

// Capacity: 10,000 connections held open at once through SOCKS5 and through `tp run` (its
// LD_PRELOAD library), each echoing its own bytes from the cluster's tcp-echo Service; the
// daemon grows its tunnel pool to carry them and goes back to its base size once they close.
// The client is one Python process (test/e2e/helpers/hold-connections.py) as the test user.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { asUser } from '../helpers/unprivileged.js';
import { connect, ensureDemoAndManager, eventually, newLaptop, TP_BIN, type Laptop } from './helpers/laptop.js';

const CONNECTIONS = 10_000;
const BASE_TUNNELS = 2;
const CLIENT = fileURLToPath(new URL('./helpers/hold-connections.py', import.meta.url));
const ECHO = { host: 'tcp-echo.default', port: 9000 };

let laptop: Laptop;
let socks: string;

test.before(async () => {
  laptop = newLaptop('capacity');
  await ensureDemoAndManager(laptop);
  ({ listeners: { socks } } = await connect(laptop));
});

test.after.always(async () => {
  await laptop?.cleanup();
});

/** The daemon's live tunnels to the manager, from `tp status`. */
async function tunnels(): Promise<number> {
  const { stdout } = await laptop.tp(['status', '--output', 'json']);
  return (JSON.parse(stdout) as { manager: { tunnels: unknown[] } }).manager.tunnels.length;
}

interface Holder {
  child: ChildProcess;
  /** The next JSON line the client prints. */
  next(): Promise<Record<string, unknown>>;
}

/** Starts a client as the test user (argv after the environment), reading its JSON lines. */
function startHolder(argv: string[]): Holder {
  const env = Object.entries(laptop.env).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${v}`);
  const [file, args] = asUser('env', ['-i', ...env, ...argv]);
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    child,
    async next() {
      const line = await lines.next();
      if (line.done) throw new Error(`the client ended without a result; its stderr: ${stderr}`);
      return JSON.parse(line.value) as Record<string, unknown>;
    },
  };
}

async function holdAndRelease(t: import('ava').ExecutionContext, argv: string[]): Promise<void> {
  const started = Date.now();
  const holder = startHolder(argv);
  t.teardown(() => holder.child.kill());
  const held = await holder.next();
  t.deepEqual(held, { held: CONNECTIONS, failed: 0, failures: [] });
  t.log(`${CONNECTIONS} held after ${Date.now() - started} ms`);
  const grown = await tunnels();
  t.true(grown >= Math.ceil(CONNECTIONS / 1024), `${grown} tunnels carry ${CONNECTIONS} connections`);
  holder.child.stdin!.end();
  t.deepEqual(await holder.next(), { closed: CONNECTIONS });
  const [code] = (await once(holder.child, 'exit')) as [number];
  t.is(code, 0);
  t.log(`closed after ${Date.now() - started} ms`);
  // Extra tunnels are retired once idle; the base ones stay.
  await eventually(async () => {
    const count = await tunnels();
    if (count !== BASE_TUNNELS) throw new Error(`${count} tunnels, waiting for ${BASE_TUNNELS}`);
  }, 90_000, 1000);
  t.is(await tunnels(), BASE_TUNNELS);
  t.log(`back to ${BASE_TUNNELS} tunnels after ${Date.now() - started} ms`);
}

test.serial(`${CONNECTIONS} connections through SOCKS5 at once each echo their own bytes, and the tunnels shrink back after`, async (t) => {
  t.is(await tunnels(), BASE_TUNNELS);
  await holdAndRelease(t, ['python3', CLIENT, `socks=${socks}`, ECHO.host, String(ECHO.port), String(CONNECTIONS)]);
});

test.serial(`${CONNECTIONS} connections from one program under tp run at once each echo their own bytes`, async (t) => {
  await holdAndRelease(t, [process.execPath, TP_BIN, 'run', '--', 'python3', CLIENT, 'direct', ECHO.host, String(ECHO.port), String(CONNECTIONS)]);
});

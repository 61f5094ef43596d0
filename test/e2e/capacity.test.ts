// Capacity: 10,000 connections held open at once through SOCKS5 and through `tp run` (its
// LD_PRELOAD library), each echoing its own bytes from the cluster's tcp-echo Service; the
// daemon grows its tunnel pool to carry them and goes back to its base size once they close.
// The client is one Python process (helpers/hold-connections.py) as the test user.
import test from 'ava';
import { ConnectionHolder, HOLD_CONNECTIONS } from './helpers/connection-holder.js';
import { connect, ensureDemoAndManager, eventually, newLaptop, TP_BIN, type Laptop } from './helpers/laptop.js';

const CONNECTIONS = 10_000;
const BASE_TUNNELS = 2;
const ECHO = { host: 'tcp-echo.default', port: 9000 };
const HOLD_TIMEOUT_MS = 8 * 60_000;

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

async function holdAndRelease(t: import('ava').ExecutionContext, argv: string[]): Promise<void> {
  // Each connection costs the daemon and the manager under a millisecond of CPU: seconds on a quiet
  // machine, minutes on a shared one; the suite-wide two-minute timeout is too short for the latter.
  t.timeout(HOLD_TIMEOUT_MS);
  const started = Date.now();
  const holder = ConnectionHolder.start(laptop.env, argv);
  t.teardown(() => holder.kill());
  t.deepEqual(await holder.held(), { held: CONNECTIONS, failed: 0, failures: [] });
  t.log(`${CONNECTIONS} held after ${Date.now() - started} ms`);
  const grown = await tunnels();
  t.true(grown >= Math.ceil(CONNECTIONS / 1024), `${grown} tunnels carry ${CONNECTIONS} connections`);
  t.deepEqual(await holder.release(), { closed: CONNECTIONS, exitCode: 0 });
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
  await holdAndRelease(t, ['python3', HOLD_CONNECTIONS, `socks=${socks}`, ECHO.host, String(ECHO.port), String(CONNECTIONS)]);
});

test.serial(`${CONNECTIONS} connections from one program under tp run at once each echo their own bytes`, async (t) => {
  await holdAndRelease(t, [process.execPath, TP_BIN, 'run', '--', 'python3', HOLD_CONNECTIONS, 'direct', ECHO.host, String(ECHO.port), String(CONNECTIONS)]);
});

// `tp run --netns --host-port` and `--publish`, end to end as the unprivileged test user: the
// namespace's loopback is its own, so a PostgreSQL server on the host's loopback is reached by
// psql inside only through --host-port; a server the command runs inside is reached from the
// host only through --publish, with FINs and resets passed on as themselves, and a published
// port where nothing listens inside resets its client as a closed port would.
import test from 'ava';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execAsUser, spawnAsUser } from '../../helpers/unprivileged.js';
import { connect, ensureDemoAndManager, eventually, newLaptop, spawnTp, type Laptop } from '../helpers/laptop.js';

let laptop: Laptop;
let pgDir: string;
let postgres: ChildProcess | undefined;
let pgPort: number;

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The directory of the PostgreSQL server's programs (Debian keeps them under /usr/lib/postgresql/<version>/bin). */
function postgresBin(): string {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  const found = versions.map((version) => `/usr/lib/postgresql/${version}/bin`).find((dir) => existsSync(join(dir, 'postgres')));
  if (!found) throw new Error('no PostgreSQL server under /usr/lib/postgresql (scripts/setup-machine installs it)');
  return found;
}

test.before(async () => {
  laptop = newLaptop('netns-ports');
  await ensureDemoAndManager(laptop);
  await connect(laptop);
  // A PostgreSQL server of the test user's own on the host's loopback, as a developer runs one.
  const bin = postgresBin();
  pgDir = mkdtempSync(join(tmpdir(), 'tp-netns-pg-'));
  chmodSync(pgDir, 0o777);
  const data = join(pgDir, 'data');
  await execAsUser(join(bin, 'initdb'), ['-D', data, '-U', 'tp', '--auth=trust', '-E', 'UTF8'], { timeout: 120_000 });
  pgPort = await freePort();
  postgres = spawnAsUser(join(bin, 'postgres'), ['-D', data, '-h', '127.0.0.1', '-p', String(pgPort), '-k', pgDir], { stdio: 'ignore' });
  await eventually(async () => {
    execFileSync(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(pgPort)], { stdio: 'ignore' });
  }, 60_000);
});

test.after.always(async () => {
  // runuser does not pass signals on: pg_ctl stops the server as its own user does.
  if (postgres && postgres.exitCode === null) {
    const exited = new Promise((resolve) => postgres!.once('exit', resolve));
    await execAsUser(join(postgresBin(), 'pg_ctl'), ['stop', '-D', join(pgDir, 'data'), '-m', 'fast'], { timeout: 60_000 }).catch(() => postgres!.kill('SIGKILL'));
    await exited;
  }
  await laptop?.cleanup();
  if (pgDir) rmSync(pgDir, { recursive: true, force: true });
});

function tpRun(command: string[], tpFlags: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return spawnTp(laptop, ['run', ...tpFlags, '--', ...command]).done;
}

test.serial('psql inside reaches the host\'s PostgreSQL with --host-port, and not without it', async (t) => {
  const psql = ['psql', '-h', '127.0.0.1', '-p', '5432', '-U', 'tp', '-d', 'postgres', '-tAc', 'select 40 + 2'];
  const mapped = await tpRun(psql, ['--netns', '--host-port', `5432:${pgPort}`]);
  t.is(mapped.code, 0, mapped.stderr);
  t.is(mapped.stdout.trim(), '42');
  // The same port number on both sides.
  const same = await tpRun(['psql', '-h', 'localhost', '-p', String(pgPort), '-U', 'tp', '-d', 'postgres', '-tAc', 'select 1'], ['--netns', '--host-port', String(pgPort)]);
  t.is(same.code, 0, same.stderr);
  t.is(same.stdout.trim(), '1');
  // Without it the namespace's loopback has no server there.
  const without = await tpRun(psql, ['--netns']);
  t.not(without.code, 0);
  t.regex(without.stderr, /refused|could not connect/i);
});

// Inside: an echo that answers each connection's bytes after its FIN with "|after-fin" (the
// connection stays half-open until then), and exits on "quit".
const SERVER = `
import os, socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8080))
s.listen(16)
def serve(c):
    data = b""
    while True:
        chunk = c.recv(65536)
        if not chunk: break
        data += chunk
    if data == b"quit":
        c.sendall(b"bye"); c.close(); os._exit(0)
    c.sendall(data + b"|after-fin")
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/**
 * Connects to the host's port, sends `text`, half-closes and reads to the end; rejects on a reset.
 * A slow reader takes a rest of 2 ms after each read.
 */
function exchange(port: number, text: string, options: { slow?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let answer = '';
    socket.on('connect', () => socket.end(text));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
      if (!options.slow) return;
      socket.pause();
      setTimeout(() => socket.resume(), 2);
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

test.serial('--publish serves a port of the command on the host\'s loopback, FIN for FIN; a published port with no server inside resets', async (t) => {
  const [hostPort, idlePort] = [await freePort(), await freePort()];
  const run = spawnTp(laptop, ['run', '--netns', '--publish', `${hostPort}:8080`, '--publish', `${idlePort}:9090`, '--', 'python3', '-c', SERVER]);
  // Until the server inside listens, the published port resets its clients.
  const first = await eventually(() => exchange(hostPort, 'ping'), 30_000, 200);
  t.is(first, 'ping|after-fin');
  const big = 'x'.repeat(1 << 20);
  t.is(await exchange(hostPort, big), `${big}|after-fin`);
  const idle = await exchange(idlePort, 'anyone?').then(
    (answer) => `answered ${answer}`,
    (error: NodeJS.ErrnoException) => error.code,
  );
  t.is(idle, 'ECONNRESET');
  t.is(await exchange(hostPort, 'quit'), 'bye');
  const ended = await run.done;
  t.is(ended.code, 0, ended.stderr);
  // With the command gone the host's port is closed again.
  const after = await exchange(hostPort, 'late').then(
    () => 'answered',
    (error: NodeJS.ErrnoException) => error.code,
  );
  t.is(after, 'ECONNREFUSED');
});

// Inside: a server that answers its one connection with 16 MiB and exits the moment the last byte
// is handed to its kernel. Read slowly on the host, most of the answer is then still on its way
// out, in the namespace's buffers and the relay's, when the command ends.
const LAST_WORDS = `
import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8080))
s.listen(1)
c, _ = s.accept()
c.sendall(b"z" * (16 << 20))
c.shutdown(socket.SHUT_WR)
os._exit(0)
`;

test.serial('what the command wrote just before it exited still reaches the published port\'s client, whole and then its end', async (t) => {
  const hostPort = await freePort();
  const run = spawnTp(laptop, ['run', '--netns', '--publish', `${hostPort}:8080`, '--', 'python3', '-c', LAST_WORDS]);
  const answer = await eventually(() => exchange(hostPort, '', { slow: true }), 30_000, 200);
  t.is(answer.length, 16 << 20);
  t.true(/^z*$/.test(answer));
  const ended = await run.done;
  t.is(ended.code, 0, ended.stderr);
});

test.serial('--publish on a host port already in use stops before the command runs', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const { port } = taken.address() as AddressInfo;
  const result = await tpRun(['sh', '-c', 'echo ran'], ['--netns', '--publish', `${port}:8080`]);
  t.not(result.code, 0);
  t.false(result.stdout.includes('ran'));
  t.regex(result.stderr, new RegExp(`127\\.0\\.0\\.1:${port}.*in use.*TP_ERR_PORT_IN_USE`, 's'));
});

test.serial('--host-port and --publish without --netns say what they are for', async (t) => {
  const result = await tpRun(['true'], ['--publish', '8080']);
  t.not(result.code, 0);
  t.regex(result.stderr, /--netns.*TP_ERR_RUN_BAD_PORT/s);
});

test.serial('the config file\'s "netns: on" makes tp run capture by default, and --no-netns turns it off', async (t) => {
  const dir = join(laptop.home, '.config', 'tp');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.yaml'), 'netns: on\n', { mode: 0o644 });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // busybox-static has its own resolver and no libc to preload into: only the namespace gets it there
  // (no -T: this busybox's wget crashes with a timeout set).
  const wget = ['busybox', 'wget', '-Y', 'off', '-qO-', 'http://hello.default/'];
  const captured = await tpRun(wget, []);
  t.is(captured.code, 0, captured.stderr);
  t.regex((JSON.parse(captured.stdout) as { pod: string }).pod, /^hello-/);
  const off = await tpRun(wget, ['--no-netns']);
  t.not(off.code, 0, off.stdout);
});

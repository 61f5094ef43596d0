// `tp run --netns` end to end: the command runs in tp's capture namespace as the unprivileged
// test user. busybox-static (no dynamic linking, so no LD_PRELOAD; its own resolver reading
// /etc/resolv.conf) reaches cluster Services by name only with --netns; curl works as under
// plain tp run; the namespace and its relay are gone after the command, and after tp is killed.
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, ensureDemoAndManager, eventually, newLaptop, spawnTp, TP_BIN, type Laptop } from '../helpers/laptop.js';

let laptop: Laptop;
let probeDir: string;
let probe: string;

test.before(async () => {
  // A statically linked Go client (CGO_ENABLED=0: Go's own resolver, no libc to preload into).
  probeDir = mkdtempSync(join(tmpdir(), 'tp-netns-probe-'));
  chmodSync(probeDir, 0o755);
  probe = join(probeDir, 'netns-probe');
  execFileSync('go', ['build', '-o', probe, 'test/e2e/run/fixtures/netns-probe/main.go'], { env: { ...process.env, CGO_ENABLED: '0', GO111MODULE: 'off' }, stdio: 'inherit', timeout: 300_000 });
  laptop = newLaptop('netns');
  await ensureDemoAndManager(laptop);
  await connect(laptop);
});

test.after.always(async () => {
  await laptop?.cleanup();
  if (probeDir) rmSync(probeDir, { recursive: true, force: true });
});

function tpRun(command: string[], tpFlags: string[] = [], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return spawnTp(laptop, ['run', ...tpFlags, '--', ...command], input).done;
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
  // --try-netns takes the namespace where the machine allows it, as here.
  const tried = await tpRun(['busybox', 'nc', 'tcp-echo.default', '9000'], ['--try-netns'], 'hello, tried\n');
  t.is(tried.code, 0, tried.stderr);
  t.true(tried.stdout.includes('hello, tried'), tried.stdout);
  const outside = await tpRun(['busybox', 'nc', 'tcp-echo.default', '9000'], [], 'hello from outside\n');
  t.false(outside.stdout.includes('hello from outside'));
  t.not(outside.code, 0);
});

test.serial('a static Go program gets a page, echoes over raw TCP and looks up a name with its own resolver, by cluster names, only with --netns', async (t) => {
  const get = await tpRun([probe, 'get', 'http://hello.default/'], ['--netns']);
  t.is(get.code, 0, get.stderr);
  t.regex((JSON.parse(get.stdout) as { pod: string }).pod, /^hello-/);
  const echo = await tpRun([probe, 'echo', 'tcp-echo.default:9000', 'hello from go'], ['--netns']);
  t.is(echo.code, 0, echo.stderr);
  t.is(echo.stdout, 'hello from go');
  const lookup = await tpRun([probe, 'lookup', 'hello.default'], ['--netns']);
  t.is(lookup.code, 0, lookup.stderr);
  t.regex(lookup.stdout.trim(), /^\d+\.\d+\.\d+\.\d+/);
  for (const command of [[probe, 'echo', 'tcp-echo.default:9000', 'hello from go'], [probe, 'lookup', 'hello.default']]) {
    const outside = await tpRun(command);
    t.not(outside.code, 0, outside.stdout);
  }
});

test.serial('curl, python and Node behave as under plain tp run', async (t) => {
  const clients = [
    ['curl', '-sS', '--fail', '--max-time', '10', 'http://hello.default/'],
    ['python3', '-c', 'import urllib.request; print(urllib.request.urlopen("http://hello.default/", timeout=10).read().decode())'],
    [process.execPath, '-e', 'fetch("http://hello.default/").then((r) => r.text()).then((text) => console.log(text))'],
  ];
  for (const client of clients) {
    for (const flags of [['--netns'], []]) {
      const result = await tpRun(client, flags);
      t.is(result.code, 0, `${client[0]} ${flags.join(' ')}: ${result.stderr}`);
      t.regex((JSON.parse(result.stdout) as { pod: string }).pod, /^hello-/);
    }
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
  // The killed tp could not remove its resolv.conf; the next tp run --netns does.
  t.is(netnsFiles().length, 1);
  const next = await tpRun(['true'], ['--netns']);
  t.is(next.code, 0, next.stderr);
  t.deepEqual(netnsFiles(), []);
  t.deepEqual(relays(), []);
});

/** This machine's first non-loopback IPv4 address: outside the cluster, so the daemon dials it directly. */
function hostAddress(): string {
  const found = Object.values(networkInterfaces()).flat().find((entry) => entry && entry.family === 'IPv4' && !entry.internal);
  if (!found) throw new Error('no non-loopback IPv4 address on this machine');
  return found.address;
}

// The client's half: "fin" sends and half-closes, then reads to the end; "reset-me" waits for the
// server's reset; "client-reset" closes with SO_LINGER 0 (an RST).
const CLIENT = `
import socket, struct, sys, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.create_connection((host, port), timeout=20)
if mode == "fin":
    s.sendall(b"ping")
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk: break
        data += chunk
    print(data.decode())
elif mode == "reset-me":
    s.sendall(b"reset-me")
    try:
        while s.recv(65536): pass
        print("eof")
    except ConnectionResetError:
        print("reset")
elif mode == "bulk":
    import hashlib, os, threading
    payload = os.urandom(8 << 20)
    def send():
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
    sender = threading.Thread(target=send)
    sender.start()
    back = bytearray()
    while True:
        chunk = s.recv(1 << 20)
        if not chunk: break
        back += chunk
    sender.join()
    print("same" if hashlib.sha256(back).digest() == hashlib.sha256(payload).digest() else "differs %d" % len(back))
else:
    s.sendall(b"bye")
    time.sleep(0.5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    print("closed")
`;

test.serial('a FIN, a reset from the server and a reset from the client each cross the namespace as themselves', async (t) => {
  const seen: string[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket: Socket) => {
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      if (received === 'reset-me') socket.resetAndDestroy();
    });
    socket.on('end', () => {
      seen.push(`fin after ${received}`);
      // Still writable after the client's FIN: the half-open connection is kept.
      socket.end(`${received}|after-fin`);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => seen.push(`${error.code} after ${received}`));
  });
  await new Promise<void>((resolve) => server.listen(0, hostAddress(), resolve));
  t.teardown(() => server.close());
  const { address, port } = server.address() as AddressInfo;
  const client = (mode: string) => tpRun(['python3', '-c', CLIENT, mode, address, String(port)], ['--netns']);

  const fin = await client('fin');
  t.is(fin.code, 0, fin.stderr);
  t.is(fin.stdout.trim(), 'ping|after-fin');
  const reset = await client('reset-me');
  t.is(reset.code, 0, reset.stderr);
  t.is(reset.stdout.trim(), 'reset');
  const clientReset = await client('client-reset');
  t.is(clientReset.code, 0, clientReset.stderr);
  await eventually(async () => {
    if (!seen.includes('ECONNRESET after bye')) throw new Error(`server saw: ${seen.join(', ')}`);
  });
  t.true(seen.includes('fin after ping'));
  t.false(seen.some((entry) => entry.startsWith('fin after bye')), seen.join(', '));
});

test.serial('8 MiB sent both ways at once through the relay arrive whole and in order', async (t) => {
  const server = createServer({ allowHalfOpen: true }, (socket: Socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, hostAddress(), resolve));
  t.teardown(() => server.close());
  const { address, port } = server.address() as AddressInfo;
  const result = await tpRun(['python3', '-c', CLIENT, 'bulk', address, String(port)], ['--netns']);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout.trim(), 'same');
});

test.serial('another user cannot hand a connection to this user\'s daemon through its capture socket', async (t) => {
  const socketPath = join(laptop.home, 'state', 'tp', 'daemon-default.capture.sock');
  const other = process.env.TP_TEST_USER2 ?? 'tpuser2';
  const script = `require("net").connect(${JSON.stringify(socketPath)}).on("connect", () => { console.log("connected"); process.exit(0); }).on("error", (e) => { console.log(e.code); process.exit(0); })`;
  const answer = await new Promise<string>((resolve, reject) =>
    execFile('runuser', ['-u', other, '--', process.execPath, '-e', script], { encoding: 'utf8', timeout: 30_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout.trim()))),
  );
  t.is(answer, 'EACCES');
  // The owner's own namespace still reaches it.
  const mine = await tpRun(['busybox', 'wget', '-Y', 'off', '-qO-', 'http://hello.default/'], ['--netns']);
  t.is(mine.code, 0, mine.stderr);
});

test.serial('where the kernel allows no user namespaces, --netns stops with the knob and what to do, and --try-netns falls back', async (t) => {
  // user.max_user_namespaces belongs to a user namespace: set to 0 in one of the test's own, it is a
  // real refusal for everything inside, and nothing outside is touched.
  const underZero = (tpArgs: string[]) =>
    laptop
      .run('unshare', ['--user', '--map-root-user', 'sh', '-c', 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', 'sh', process.execPath, TP_BIN, 'run', ...tpArgs])
      .then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
      );
  const insisted = await underZero(['--netns', '--', 'echo', 'ran']);
  t.not(insisted.code, 0);
  t.false(insisted.stdout.includes('ran'));
  t.regex(insisted.stderr, /user\.max_user_namespaces = 0.*TP_ERR_NETNS_USERNS_DISABLED/s);
  t.regex(insisted.stderr, /Try this:.*sysctl -w user\.max_user_namespaces/s);
  const tried = await underZero(['--try-netns', '--', 'curl', '-sS', '--fail', '--max-time', '10', 'http://hello.default/']);
  t.is(tried.code, 0, tried.stderr);
  t.regex((JSON.parse(tried.stdout) as { pod: string }).pod, /^hello-/);
  t.regex(tried.stderr, /--try-netns: User namespaces are switched off.*Running with proxy settings and preload libraries instead/s);
});

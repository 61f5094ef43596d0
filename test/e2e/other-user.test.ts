// Another account on the same machine gets nothing from the developer's tp: tp connect runs as the
// test user, and a second unprivileged user (TP_TEST_USER2, made by scripts/setup-machine) tries
// every front door with real clients — curl through SOCKS5, the HTTP proxy, CONNECT and the PAC
// URL, dig over UDP and TCP, and a raw connection to tp run's redirect listener — and is refused
// at each, while the test user keeps getting through.
import test from 'ava';
import { execFile } from 'node:child_process';
import { RUNNING_AS_ROOT } from '../helpers/unprivileged.js';
import { connect, ensureDemoAndManager, newLaptop, type Laptop, type Listeners } from './helpers/laptop.js';

const OTHER_USER = process.env.TP_TEST_USER2 ?? 'tpuser2';
const SERVICE = 'http://hello.default/';
const NAME = 'hello.default.svc.cluster.local';

let laptop: Laptop;
let listeners: Listeners;
let redirect: string;

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args…` as the other user; never rejects. */
function asOther(cmd: string, args: string[]): Promise<Outcome> {
  return new Promise((resolve) =>
    execFile('runuser', ['-u', OTHER_USER, '--', cmd, ...args], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

test.before(async () => {
  laptop = newLaptop('other-user');
  await ensureDemoAndManager(laptop);
  ({ listeners } = await connect(laptop));
  // The redirect listener (tp run's) starts with the daemon; its address is in tp status.
  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { features?: { run?: { redirect?: string } } };
  redirect = status.features?.run?.redirect ?? '';
});

test.after.always(async () => {
  await laptop?.cleanup();
});

test.serial('the other user is refused by SOCKS5, the HTTP proxy, CONNECT and the PAC URL; the owner is not', async (t) => {
  if (!RUNNING_AS_ROOT) return void t.log('not root: cannot run a second user');
  const common = ['-sS', '--max-time', '20'];
  const socks = await asOther('curl', [...common, '--socks5-hostname', listeners.socks, SERVICE]);
  t.not(socks.code, 0);
  t.notRegex(socks.stdout, /"pod"/);
  const http = await asOther('curl', [...common, '-w', '\n%{http_code}', '-x', `http://${listeners.http}`, SERVICE]);
  t.regex(http.stdout, /only the user who ran `tp connect`[\s\S]*\n403$/);
  const tunnel = await asOther('curl', [...common, '-p', '-x', `http://${listeners.http}`, SERVICE]);
  t.not(tunnel.code, 0);
  t.regex(tunnel.stderr, /403/);
  const pac = await asOther('curl', [...common, '-w', '\n%{http_code}', listeners.pac]);
  t.regex(pac.stdout, /\n403$/);
  t.notRegex(pac.stdout, /FindProxyForURL/);

  for (const args of [['--socks5-hostname', listeners.socks, SERVICE], ['-x', `http://${listeners.http}`, SERVICE], ['-p', '-x', `http://${listeners.http}`, SERVICE]]) {
    t.regex((await laptop.run('curl', [...common, '--fail', ...args])).stdout, /"pod":"hello-/, args.join(' '));
  }
  t.regex((await laptop.run('curl', [...common, '--fail', listeners.pac])).stdout, /FindProxyForURL/);
});

test.serial('the other user gets REFUSED from the DNS stub over UDP and TCP; the owner gets the address', async (t) => {
  if (!RUNNING_AS_ROOT) return void t.log('not root: cannot run a second user');
  const [host, port] = listeners.dns.split(':');
  for (const transport of ['+notcp', '+tcp']) {
    const args = [`@${host}`, '-p', port, '+time=5', '+tries=1', transport, NAME, 'A'];
    t.regex((await asOther('dig', args)).stdout, /status: REFUSED/, transport);
    t.regex((await laptop.run('dig', args)).stdout, /status: NOERROR/, transport);
  }
});

test.serial('the other user cannot take a connection from the redirect listener; tp run keeps working', async (t) => {
  if (!RUNNING_AS_ROOT) return void t.log('not root: cannot run a second user');
  t.regex(redirect, /^127\.0\.0\.1:\d+$/);
  const [host, port] = redirect.split(':');
  // From 127.0.0.1 and from another loopback address, as a hijacker binding a look-alike port would.
  for (const localAddress of ['127.0.0.1', '127.0.0.2']) {
    const script = `const s = require('net').connect({ host: ${JSON.stringify(host)}, port: ${port}, localAddress: ${JSON.stringify(localAddress)} });
      s.on('connect', () => s.write('x')); s.on('data', () => console.log('data')); s.on('error', (e) => console.log(e.code)); s.on('close', () => process.exit(0));`;
    t.is((await asOther(process.execPath, ['-e', script])).stdout.trim(), 'ECONNRESET', localAddress);
  }
  t.regex((await laptop.tp(['run', '--', 'curl', '-sS', '--fail', '--noproxy', '*', '--max-time', '20', SERVICE], { timeoutMs: 90_000 })).stdout, /"pod":"hello-/);
});

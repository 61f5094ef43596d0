import test from 'ava';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TpError } from '../../src/errors.js';
import { RCODE } from '../../src/dns/dns2-wire.js';
import { DnsStub } from '../../src/dns/stub.js';
import { HttpProxyServer } from '../../src/proxy/http-proxy.js';
import { ALLOW_OTHER_USERS_ENV, createOwnerGate, createUidGate, OPEN_GATE } from '../../src/proxy/owner-gate.js';
import { SocksServer } from '../../src/proxy/socks-server.js';
import { captureLogs } from '../helpers/capture-logs.js';
import { RUNNING_AS_ROOT, asUser } from '../helpers/unprivileged.js';
import { startLabelledServer } from './helpers.js';

const run = promisify(execFile);

/** curl as this process's user or, with `other`, as the test user; resolves with its exit code and output. */
async function curl(other: boolean, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const full = ['-sS', '--max-time', '20', ...args];
  const [file, argv] = other ? asUser('curl', full) : ['curl', full];
  try {
    const { stdout, stderr } = await run(file, argv, { encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function doors(t: import('ava').ExecutionContext) {
  const gate = createUidGate(process.getuid!());
  const socks = new SocksServer({ gate });
  const http = new HttpProxyServer({ gate, pacFile: () => 'function FindProxyForURL() { return "DIRECT"; }' });
  const socksPort = (await socks.listen()).port;
  const httpPort = (await http.listen()).port;
  t.teardown(() => Promise.all([socks.destroy(), http.destroy()]).then(() => undefined));
  return { socksPort, httpPort };
}

test.serial('another user is refused at the SOCKS5 door, the HTTP proxy, CONNECT and the PAC file; the owner is let in', async (t) => {
  if (!RUNNING_AS_ROOT) return void t.log('not root: cannot run a client as another user');
  const logs = captureLogs(t);
  const target = await startLabelledServer(t, 'web');
  const { socksPort, httpPort } = await doors(t);
  const url = `http://127.0.0.1:${target.port}/x`;

  const socks = await curl(true, ['--socks5-hostname', `127.0.0.1:${socksPort}`, url]);
  t.not(socks.code, 0);
  t.regex(socks.stderr, /not allowed|\(2\)/i);
  const viaHttp = await curl(true, ['-x', `http://127.0.0.1:${httpPort}`, '-w', '%{http_code}', url]);
  t.regex(viaHttp.stdout, /only the user who ran `tp connect`[\s\S]*403$/);
  const connect = await curl(true, ['-p', '-x', `http://127.0.0.1:${httpPort}`, url]);
  t.regex(connect.stderr, /403/);
  const pac = await curl(true, ['-w', '%{http_code}', `http://127.0.0.1:${httpPort}/proxy.pac`]);
  t.regex(pac.stdout, /403$/);
  t.deepEqual(target.requests.length, 0);
  t.true(logs.filter((line) => line.includes('refused') && line.includes('only uid')).length >= 4);

  t.is((await curl(false, ['--socks5-hostname', `127.0.0.1:${socksPort}`, url])).stdout, `web GET 127.0.0.1:${target.port}/x\n`);
  t.is((await curl(false, ['-x', `http://127.0.0.1:${httpPort}`, url])).stdout, `web GET 127.0.0.1:${target.port}/x\n`);
  t.is((await curl(false, ['-p', '-x', `http://127.0.0.1:${httpPort}`, url])).stdout, `web GET 127.0.0.1:${target.port}/x\n`);
  t.regex((await curl(false, [`http://127.0.0.1:${httpPort}/proxy.pac`])).stdout, /FindProxyForURL/);
});

test.serial('another user gets REFUSED from the DNS stub over UDP and TCP; the owner gets an answer', async (t) => {
  if (!RUNNING_AS_ROOT) return void t.log('not root: cannot run a client as another user');
  const stub = new DnsStub({ gate: createUidGate(process.getuid!()), resolveCluster: async () => ({ rcode: RCODE.NXDOMAIN, answers: [] }), resolvers: [] });
  const { udp } = await stub.listen();
  t.teardown(() => stub.destroy());
  const dig = async (other: boolean, tcp: boolean): Promise<string> => {
    const args = ['@127.0.0.1', '-p', String(udp.port), '+tries=1', '+time=10', ...(tcp ? ['+tcp'] : []), 'web.default.svc.cluster.local', 'A'];
    const [file, argv] = other ? asUser('dig', args) : ['dig', args];
    const { stdout } = await run(file, argv, { encoding: 'utf8' });
    return /status: (\w+)/.exec(stdout)?.[1] ?? stdout;
  };
  t.is(await dig(true, false), 'REFUSED');
  t.is(await dig(true, true), 'REFUSED');
  t.not(await dig(false, false), 'REFUSED');
  t.not(await dig(false, true), 'REFUSED');
});

test.serial('the switch lets everyone in with one warning; without it the gate is this process’s uid', async (t) => {
  const logs = captureLogs(t);
  const secretFile = join(mkdtempSync(join(tmpdir(), 'tp-gate-')), 'door-secret');
  const open = await createOwnerGate({ allowOtherUsers: true, secretFile });
  t.is(open, OPEN_GATE);
  t.is(logs.filter((line) => line.includes('WARN') && line.includes(ALLOW_OTHER_USERS_ENV)).length, 1);
  const strict = await createOwnerGate({ allowOtherUsers: false, secretFile });
  t.not(strict, OPEN_GATE);
  t.is(strict.credentials, undefined);
  t.true(await strict.admitsDatagram({ address: '127.0.0.1', port: 9 }, 'test').then((ok) => !ok));
  t.false(existsSync(secretFile));
  const wrong = await createOwnerGate({ allowOtherUsers: false, secretFile, mode: 'ident' }).catch((error: TpError) => error);
  t.is((wrong as TpError).code, 'TP_ERR_DOOR_CHECK');
  t.regex((wrong as TpError).hints.join(' '), /owner or credentials/);
});

test.serial('credentials mode: a 0600 secret that survives restarts; a secret file others can read is replaced', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-gate-'));
  const secretFile = join(dir, 'door-secret');
  const first = await createOwnerGate({ allowOtherUsers: false, secretFile, mode: 'credentials' });
  t.is(statSync(secretFile).mode & 0o777, 0o600);
  t.regex(first.credentials!.password, /^[A-Za-z0-9_-]{32}$/);
  const again = await createOwnerGate({ allowOtherUsers: false, secretFile, mode: 'credentials' });
  t.deepEqual(again.credentials, first.credentials);
  chmodSync(secretFile, 0o644);
  const replaced = await createOwnerGate({ allowOtherUsers: false, secretFile, mode: 'credentials' });
  t.not(replaced.credentials!.password, first.credentials!.password);
  t.is(statSync(secretFile).mode & 0o777, 0o600);
});

test.serial('credentials mode: SOCKS5 and the HTTP proxy ask for the secret, the PAC file for its key, the DNS stub refuses every other user', async (t) => {
  const logs = captureLogs(t);
  const target = await startLabelledServer(t, 'web');
  const gate = await createOwnerGate({ allowOtherUsers: false, secretFile: join(mkdtempSync(join(tmpdir(), 'tp-gate-')), 'door-secret'), mode: 'credentials' });
  const { user, password } = gate.credentials!;
  const socks = new SocksServer({ gate });
  const http = new HttpProxyServer({ gate, pacFile: () => 'function FindProxyForURL() { return "DIRECT"; }' });
  const stub = new DnsStub({ gate, resolveCluster: async () => ({ rcode: RCODE.NXDOMAIN, answers: [] }), resolvers: [] });
  const [socksPort, httpPort, dnsPort] = [(await socks.listen()).port, (await http.listen()).port, (await stub.listen()).udp.port];
  t.teardown(() => Promise.all([socks.destroy(), http.destroy(), stub.destroy()]).then(() => undefined));
  const url = `http://127.0.0.1:${target.port}/x`;
  const answer = `web GET 127.0.0.1:${target.port}/x\n`;

  // Without credentials, or with wrong ones: refused by each protocol's own means.
  const noAuth = await curl(false, ['--socks5-hostname', `127.0.0.1:${socksPort}`, url]);
  t.regex(noAuth.stderr, /No authentication method was acceptable/);
  const badSocks = await curl(false, ['-x', `socks5h://${user}:wrong@127.0.0.1:${socksPort}`, url]);
  t.regex(badSocks.stderr, /User was rejected by the SOCKS5 server/);
  t.regex((await curl(false, ['-x', `http://127.0.0.1:${httpPort}`, '-w', '%{http_code}', url])).stdout, /username and password[\s\S]*407$/);
  t.regex((await curl(false, ['-x', `http://${user}:wrong@127.0.0.1:${httpPort}`, '-w', '%{http_code}', url])).stdout, /407$/);
  t.regex((await curl(false, ['-p', '-x', `http://127.0.0.1:${httpPort}`, url])).stderr, /407/);
  t.regex((await curl(false, ['-w', '%{http_code}', `http://127.0.0.1:${httpPort}/proxy.pac`])).stdout, /403$/);
  t.regex((await curl(false, ['-w', '%{http_code}', `http://127.0.0.1:${httpPort}/proxy.pac?key=wrong`])).stdout, /403$/);
  t.is(target.requests.length, 0);

  // With them: through.
  t.is((await curl(false, ['-x', `socks5h://${user}:${password}@127.0.0.1:${socksPort}`, url])).stdout, answer);
  t.is((await curl(false, ['-x', `http://${user}:${password}@127.0.0.1:${httpPort}`, url])).stdout, answer);
  t.is((await curl(false, ['-p', '-x', `http://${user}:${password}@127.0.0.1:${httpPort}`, url])).stdout, answer);
  t.regex((await curl(false, [`http://127.0.0.1:${httpPort}/proxy.pac?key=${password}`])).stdout, /FindProxyForURL/);
  // The proxy's own header never reaches the destination.
  t.false(target.requests.some((request) => 'proxy-authorization' in request.headers));

  // DNS carries no credentials: REFUSED for every other user, one log line per door; the daemon's
  // own user (this process), known by its socket where owners can be known, is answered.
  for (const tcp of [false, true]) {
    const query = ['@127.0.0.1', '-p', String(dnsPort), '+tries=1', '+time=10', ...(tcp ? ['+tcp'] : []), 'web.default.svc.cluster.local', 'A'];
    t.is(/status: (\w+)/.exec((await run('dig', query, { encoding: 'utf8' })).stdout)?.[1], 'NXDOMAIN');
    if (RUNNING_AS_ROOT) t.is(/status: (\w+)/.exec((await run(...asUser('dig', query), { encoding: 'utf8' })).stdout)?.[1], 'REFUSED');
  }
  t.is(logs.filter((line) => line.includes('DNS stub (udp) refuses every caller')).length, 1);
  t.false(logs.some((line) => line.includes(password)), 'the secret never reaches a log');
});

// Where the daemon cannot learn who owns a connection (TP_DOOR_CHECK=credentials here; other
// platforms by default), the doors ask for a per-user secret instead: the export line `tp connect`
// prints carries it and works as printed, `tp run` hands it to the command, a client without it is
// refused, another user cannot read it, and it never reaches the daemon's log.
import test from 'ava';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUNNING_AS_ROOT } from '../helpers/unprivileged.js';
import { ensureDemoAndManager, newLaptop, type Laptop } from './helpers/laptop.js';

const OTHER_USER = process.env.TP_TEST_USER2 ?? 'tpuser2';
const SERVICE = 'http://hello.default/';
const COMMON = ['-sS', '--max-time', '20'];

let laptop: Laptop;
let exportLine: string;
let password: string;

test.before(async () => {
  laptop = newLaptop('door-credentials');
  laptop.env.TP_DOOR_CHECK = 'credentials';
  await ensureDemoAndManager(laptop);
  const { stdout } = await laptop.tp(['connect'], { timeoutMs: 90_000 });
  exportLine = stdout.split('\n').find((line) => line.trim().startsWith('export HTTPS_PROXY='))!.trim();
  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { listeners: { credentials?: { password: string } } };
  password = status.listeners.credentials?.password ?? '';
});

test.after.always(async () => {
  await laptop?.cleanup();
});

test.serial('the printed export line works as printed: curl reaches a Service by name through HTTPS_PROXY and ALL_PROXY', async (t) => {
  t.regex(password, /^[A-Za-z0-9_-]{32}$/);
  t.true(exportLine.includes(`tp:${password}@`), exportLine.replace(password, '<secret>'));
  t.regex((await laptop.run('sh', ['-c', `${exportLine}; curl ${COMMON.join(' ')} --fail ${SERVICE}`])).stdout, /"pod":"hello-/);
  t.regex((await laptop.run('sh', ['-c', `${exportLine}; curl ${COMMON.join(' ')} --fail -x "$ALL_PROXY" ${SERVICE}`])).stdout, /"pod":"hello-/);
});

test.serial('without the secret the same user is refused: 407 from the HTTP proxy, no method from SOCKS5', async (t) => {
  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { listeners: { http: string; socks: string } };
  const http = await laptop.run('curl', [...COMMON, '-w', '\n%{http_code}', '-x', `http://${status.listeners.http}`, SERVICE]);
  t.regex(http.stdout, /\n407$/);
  const socks = await laptop.run('curl', [...COMMON, '--socks5-hostname', status.listeners.socks, SERVICE]).catch((error: { stderr: string }) => error);
  t.regex(socks.stderr, /No authentication method was acceptable/);
});

test.serial('tp run hands the secret to the command through the proxy variables', async (t) => {
  const { stdout } = await laptop.tp(['run', '--no-preload', '--', 'curl', ...COMMON, '--fail', SERVICE], { timeoutMs: 90_000 });
  t.regex(stdout, /"pod":"hello-/);
});

test.serial('another user can read neither the secret nor the PAC file, and the secret is in no log', async (t) => {
  if (RUNNING_AS_ROOT) {
    const secretFile = join(laptop.home, 'state', 'tp', 'door-secret');
    const read = await new Promise<string>((resolve) =>
      execFile('runuser', ['-u', OTHER_USER, '--', 'cat', secretFile], { encoding: 'utf8' }, (error, _stdout, stderr) => resolve(error ? stderr : 'read it')),
    );
    t.regex(read, /Permission denied/);
  }
  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { listeners: { pac: string }; logFile: string };
  const pacWithoutKey = status.listeners.pac.replace(/\?key=.*$/, '');
  t.regex((await laptop.run('curl', [...COMMON, '-w', '\n%{http_code}', pacWithoutKey])).stdout, /\n403$/);
  t.regex((await laptop.run('curl', [...COMMON, '--fail', status.listeners.pac])).stdout, /FindProxyForURL/);
  const logDir = join(status.logFile, '..');
  const logs = readdirSync(logDir).map((name) => readFileSync(join(logDir, name), 'utf8')).join('');
  t.true(logs.length > 0);
  t.false(logs.includes(password));
});

// The daemon started by `tp connect` writes and rotates its own log at the level the command asks
// for. No cluster is needed: the kubeconfig points at a port that drops every connection, so the daemon starts,
// logs its lifecycle and its failure, answers the CLI's control calls (debug lines) and exits.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { daemonPaths } from '../../src/daemon/paths.js';
import { LOG_FILE_MAX_BYTES } from '../../src/log/rotating-file.js';
import { execAsUser, RUNNING_AS_ROOT, TEST_USER } from '../helpers/unprivileged.js';

const TP = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const START_FAILED = /ERROR tp:daemon !! start failed: TP_ERR_KUBE_UNREACHABLE/;
const CONTROL_DEBUG = /DEBUG tp:daemon:control <- \d+ status/;

let apiPort: number;

test.before(async () => {
  // An "API server" that takes each connection and drops it: the daemon fails at its first request.
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apiPort = (server.address() as AddressInfo).port;
  server.unref();
});

interface Home {
  env: NodeJS.ProcessEnv;
  logFile: string;
}

function newHome(t: ExecutionContext): Home {
  const home = mkdtempSync(join(tmpdir(), 'tp-log-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  writeFileSync(
    join(home, 'kubeconfig'),
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: c, cluster: {server: "https://127.0.0.1:${apiPort}"}}]`,
      'contexts: [{name: x, context: {cluster: c, user: u, namespace: default}}]',
      'current-context: x',
      'users: [{name: u, user: {token: not-a-real-token}}]',
    ].join('\n'),
  );
  if (RUNNING_AS_ROOT) execFileSync('chown', ['-R', `${TEST_USER}:`, home]);
  const env = { PATH: process.env.PATH, HOME: home, XDG_STATE_HOME: join(home, 'state'), XDG_CACHE_HOME: join(home, 'cache'), KUBECONFIG: join(home, 'kubeconfig') };
  return { env, logFile: daemonPaths(env).logFile };
}

/** Runs `tp connect …`, which fails once its daemon has failed; returns the CLI's stderr. */
async function connect(home: Home, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const error = await execAsUser(process.execPath, [TP, 'connect', ...args], { env: { ...home.env, ...env }, timeout: 90_000 }).then(
    () => undefined,
    (err: { stderr?: string }) => err,
  );
  if (!error) throw new Error('tp connect succeeded against an API server that drops every connection');
  return String(error.stderr);
}

test('at the default level the daemon logs its lifecycle and failure to its own file, without debug lines', async (t) => {
  const home = newHome(t);
  t.regex(await connect(home), /TP_ERR_KUBE_UNREACHABLE/);
  const log = readFileSync(home.logFile, 'utf8');
  t.regex(log, START_FAILED);
  t.regex(log, /INFO {2}tp:daemon stopping/);
  t.notRegex(log, /DEBUG/);
  t.notRegex(log, /not-a-real-token/);
});

test('--log-level debug adds the per-call lines', async (t) => {
  const home = newHome(t);
  await connect(home, ['--log-level', 'debug']);
  const log = readFileSync(home.logFile, 'utf8');
  t.regex(log, START_FAILED);
  t.regex(log, CONTROL_DEBUG);
});

test('TP_LOG_LEVEL sets the level when the flag is not given, and the flag wins over it', async (t) => {
  const byEnv = newHome(t);
  await connect(byEnv, [], { TP_LOG_LEVEL: 'debug' });
  t.regex(readFileSync(byEnv.logFile, 'utf8'), CONTROL_DEBUG);
  const flagWins = newHome(t);
  await connect(flagWins, ['--log-level', 'info'], { TP_LOG_LEVEL: 'debug' });
  const log = readFileSync(flagWins.logFile, 'utf8');
  t.regex(log, START_FAILED);
  t.notRegex(log, /DEBUG/);
});

test('a level that does not exist is refused before any daemon starts', async (t) => {
  const home = newHome(t);
  t.regex(await connect(home, [], { TP_LOG_LEVEL: 'verbose' }), /"verbose" is not a log level\. \(TP_ERR_LOG_LEVEL\)\nTry this:\n {2}Use one of debug, info, warn, error with --log-level or TP_LOG_LEVEL\./);
  t.throws(() => readFileSync(home.logFile), { code: 'ENOENT' });
});

test('a log already at its size bound is rotated when the daemon starts, which then writes a fresh file', async (t) => {
  const home = newHome(t);
  const old = `${'o'.repeat(99)}\n`.repeat(Math.ceil(LOG_FILE_MAX_BYTES / 100));
  await connect(home);
  const firstRun = readFileSync(home.logFile, 'utf8');
  writeFileSync(home.logFile, old + firstRun);
  if (RUNNING_AS_ROOT) execFileSync('chown', [`${TEST_USER}:`, home.logFile]);
  await connect(home);
  t.is(readFileSync(`${home.logFile}.1`, 'utf8'), old + firstRun);
  const log = readFileSync(home.logFile, 'utf8');
  t.regex(log, START_FAILED);
  t.true(log.length < 10_000);
});

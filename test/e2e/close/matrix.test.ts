// The close-semantics matrix end to end: every path a connection can take through tp (SOCKS5,
// HTTP CONNECT, HTTP absolute-form, `tp run` through the LD_PRELOAD library and through the Node
// preload, a global intercept, a personal intercept) times every way it can end: (a) the server
// ends first after a large body read by a slow reader, (b) the client half-closes first and then
// reads the whole answer, (c) the server resets, (d) the client resets. An orderly end must arrive
// as an end with every byte (counted and SHA-256 checked), a reset as a reset. One daemon and one
// intercept per path serve all its endings. ApacheBench against a globally intercepted Service
// whose laptop handler is Python's http.server (HTTP/1.0, the server closes) is the last case.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { execInPod } from '../helpers/cluster.js';
import { startCloseServer, type CloseServer } from '../../sandbox/node/images/close-server.js';
import { connect, type Laptop } from '../helpers/laptop.js';
import { tearDownNamespace, type InterceptEnv } from '../intercept/helpers.js';
import { BIG, CLIENT_MJS, CLIENT_PY, checkEnding, curlBigScript, endingArgs, patternDigest, pyInPod, pythonHttpServer, setUpMatrix, type Ending } from './helpers.js';

type Output = { code: number; stdout: string; stderr: string };

interface Path {
  name: string;
  /**
   * The endings that apply. Message-level paths (the HTTP proxy's absolute-form, a personal
   * intercept's per-request router) frame each request by its headers and keep their own upstream
   * connection, so a client's FIN is not passed on as a FIN: there (b) is a complete request
   * followed by the client's half-close ('get-shut'), and the raw 'upload' does not apply.
   */
  endings: Ending[];
  /** Runs a client with these ending arguments on this path. */
  client(args: string[]): Promise<Output>;
  /** curl --limit-rate of the large body on this path, piped into sha256sum. */
  curl?(): Promise<Output>;
}

const RAW: Ending[] = ['big', 'upload', 'reset', 'hold'];
const MESSAGE: Ending[] = ['big', 'get-shut', 'reset', 'hold'];

let env: InterceptEnv;
let laptop: Laptop;
let server: CloseServer;
let handler: { port: number; child: ChildProcess } | undefined;
let handlerDir: string | undefined;
let socksPort: number;
let httpPort: number;

test.before(async () => {
  env = await setUpMatrix('tp-close');
  laptop = env.newLaptop('alice');
  server = await startCloseServer(0, '127.0.0.1');
  handlerDir = mkdtempSync(join(tmpdir(), 'tp-close-ab-'));
  writeFileSync(join(handlerDir, 'page.html'), `<html>${'x'.repeat(16 * 1024)}</html>\n`);
  handler = await pythonHttpServer(handlerDir);
  const { listeners } = await connect(laptop, ['--manager-namespace', env.managerNamespace, '-n', env.namespace]);
  socksPort = Number(listeners.socks.split(':').at(-1));
  httpPort = Number(listeners.http.split(':').at(-1));
  const tp = (args: string[]) => env.tp(laptop, [...args, '-n', env.namespace]);
  await Promise.all([
    tp(['intercept', 'glob', '--port', `${server.port}:http`]),
    tp(['intercept', 'pers', '--port', `${server.port}:http`, '--http-header', 'x-close=me']),
    tp(['intercept', 'bench', '--port', `${handler.port}:http`]),
  ]);
});

test.after.always(async () => {
  await laptop?.cleanup();
  await server?.close();
  handler?.child.kill();
  if (handlerDir) rmSync(handlerDir, { recursive: true, force: true });
  await tearDownNamespace(env);
});

/** Never throws: the exit code, stdout and stderr of a laptop command. */
async function settle(running: Promise<{ stdout: string; stderr: string }>): Promise<Output> {
  try {
    return { code: 0, ...(await running) };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string; message?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? failed.message ?? '' };
  }
}

const far = () => `far.${env.namespace}`;
const bigUrl = (host: string) => `http://${host}/big/${BIG}`;
const viaLaptop = (via: string) => (args: string[]) => settle(laptop.run('python3', [CLIENT_PY, via, far(), '80', ...args]));
const tpRun = (flags: string[], command: string[]) => settle(laptop.tp(['run', ...flags, '--', ...command], { timeoutMs: 90_000 }));

const paths: Path[] = [
  {
    name: 'SOCKS5',
    endings: RAW,
    client: (args) => viaLaptop(`socks5:${socksPort}`)(args),
    curl: () => settle(laptop.run(...split(curlBigScript(['--socks5-hostname', `127.0.0.1:${socksPort}`], bigUrl(far()))))),
  },
  { name: 'HTTP CONNECT', endings: RAW, client: (args) => viaLaptop(`connect:${httpPort}`)(args) },
  {
    name: 'HTTP absolute-form',
    endings: MESSAGE,
    client: (args) => viaLaptop(`http:${httpPort}`)(args),
    curl: () => settle(laptop.run(...split(curlBigScript(['--proxy', `http://127.0.0.1:${httpPort}`], bigUrl(far()))))),
  },
  {
    name: 'tp run (LD_PRELOAD)',
    endings: RAW,
    client: (args) => tpRun(['--no-node-shim'], ['python3', CLIENT_PY, 'direct', far(), '80', ...args]),
    curl: () => tpRun(['--no-node-shim'], curlBigScript(['--noproxy', '*'], bigUrl(far()))),
  },
  { name: 'tp run (Node preload)', endings: RAW, client: (args) => tpRun(['--no-preload'], [process.execPath, CLIENT_MJS, far(), '80', ...args]) },
  {
    name: 'global intercept',
    endings: RAW,
    client: (args) => pyInPod(env.namespace, ['direct', `glob.${env.namespace}`, '80', ...args]),
    curl: () => execInPod('client', curlBigScript([], bigUrl(`glob.${env.namespace}`)), env.namespace, 90_000),
  },
  {
    name: 'personal intercept',
    endings: MESSAGE,
    client: (args) => pyInPod(env.namespace, ['direct', `pers.${env.namespace}`, '80', ...args], 'x-close: me'),
    curl: () => execInPod('client', curlBigScript(['-H', 'x-close: me'], bigUrl(`pers.${env.namespace}`)), env.namespace, 90_000),
  },
];

function split(argv: string[]): [string, string[]] {
  return [argv[0], argv.slice(1)];
}

const WORDS: Record<Ending, string> = {
  big: '(a) the server ends first after 32 MiB read by a slow reader',
  'get-shut': '(b) the client sends its request and half-closes, then reads the whole answer',
  upload: '(b) the client half-closes after its upload, then reads the whole answer',
  reset: '(c) the server resets mid-body: the client sees a reset',
  hold: '(d) the client resets: the server sees a reset',
};

for (const path of paths) {
  for (const ending of path.endings) {
    test.serial(`${path.name}: ${WORDS[ending]}`, async (t) => {
      checkEnding(t, ending, await path.client(endingArgs(ending, `${path.name.replace(/\W+/g, '-')}-${Date.now()}`)));
    });
  }
  const curl = path.curl;
  if (curl) {
    test.serial(`${path.name}: (a) curl --http1.0 --limit-rate gets all 32 MiB`, async (t) => {
      const output = await curl();
      t.is(output.code, 0, output.stderr);
      t.is(output.stdout.split(' ')[0], patternDigest(BIG));
    });
  }
}

test.serial('ApacheBench from a pod against a globally intercepted Service served by python http.server: every request completes', async (t) => {
  const result = await execInPod('client', ['ab', '-q', '-n', '2000', '-c', '8', `http://bench.${env.namespace}/page.html`], env.namespace, 180_000);
  t.is(result.code, 0, result.stderr + result.stdout);
  t.regex(result.stdout, /Complete requests:\s+2000\b/);
  t.regex(result.stdout, /Failed requests:\s+0\b/);
});

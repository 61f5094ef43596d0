// Docker mode's intercepts end to end: two named Docker-mode connections to two namespaces, each
// with an intercept at once whose handler is a container run by `tp intercept … --docker-run` in
// that connection's network, seeing the pod's environment and its files (the service account's
// namespace file at its path in the pod, from tp's copy); the handler's end ends its intercept
// and tp passes on its exit code. The engine and tp's image as in docker.test.ts.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnAsUser } from '../../helpers/unprivileged.js';
import { eventually, TP_BIN, type Laptop } from '../helpers/laptop.js';
import { curlFromPod, setUpNamespace, tearDownNamespace, type InterceptEnv } from '../intercept/helpers.js';
import { docker, goBuild, importImage, useEngine } from './helpers.js';

const ALPHA = `alpha${process.pid}`;
const BETA = `beta${process.pid}`;
const HANDLER_IMAGE = `localhost/tp-e2e/handler-${process.pid}:1`;

let env: InterceptEnv | undefined;
let laptop: Laptop;
let workDir: string;

test.before(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'tp-docker-ic-'));
  const root = join(workDir, 'root');
  goBuild('test/e2e/docker/fixtures/handler/main.go', join(root, 'bin', 'handler'));
  importImage(root, HANDLER_IMAGE);
  env = await setUpNamespace('tp-dk-ic');
  laptop = env.newLaptop('docker');
  useEngine(laptop);
  await env.tp(laptop, ['connect', '--docker', '--name', ALPHA, '-n', env.namespace], 150_000);
  await env.tp(laptop, ['connect', '--docker', '--name', BETA, '-n', 'default'], 150_000);
});

test.after.always(async () => {
  for (const name of [ALPHA, BETA]) await laptop?.tp(['quit', '--use', name]).catch(() => undefined);
  await laptop?.cleanup();
  await tearDownNamespace(env);
  try {
    docker(['rmi', '-f', HANDLER_IMAGE]);
  } catch {
    // not made
  }
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

interface Running {
  done: Promise<number>;
  stderr(): string;
}

function startIntercept(connection: string, workload: string): Running {
  const args = ['intercept', workload, '--use', connection, '-n', env!.namespace, '--manager-namespace', env!.managerNamespace, '--port', '8080:http', '--docker-run', '--', HANDLER_IMAGE, '/bin/handler', connection];
  const child = spawnAsUser('env', ['-i', ...Object.entries(laptop.env).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`), process.execPath, TP_BIN, ...args]);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.resume();
  child.stdin!.end();
  return { done: new Promise((resolve) => child.once('close', (code) => resolve(code ?? -1))), stderr: () => stderr };
}

/** The body from `service` once the handler (not the pod) answers it; the intercept's output on failure. */
async function handlerAnswer(service: string, running: Running): Promise<string> {
  try {
    return await eventually(async () => {
      const body = await curlFromPod(env!.namespace, [`http://${service}.${env!.namespace}/`]);
      if (!body.startsWith('handler')) throw new Error(`answered by the pod: ${body.slice(0, 100)}`);
      return body;
    }, 120_000);
  } catch (error) {
    throw new Error(`${(error as Error).message}; tp intercept said: ${running.stderr()}`);
  }
}

test.serial('two Docker-mode connections, an intercept in each at once, handlers run with --docker-run and the pod\'s environment', async (t) => {
  t.timeout(300_000);
  const alpha = startIntercept(ALPHA, 'envapp');
  const beta = startIntercept(BETA, 'web');
  const [fromEnvapp, fromWeb] = await Promise.all([handlerAnswer('envapp', alpha), handlerAnswer('web', beta)]);
  t.regex(fromEnvapp, new RegExp(`^handler ${ALPHA} hello from a configmap envapp-\\S+ ns=${env!.namespace}$`), 'the handler sees the pod\'s GREETING and MY_POD_NAME, and its token\'s files at their path');
  t.regex(fromWeb, new RegExp(`^handler ${BETA} .* ns=${env!.namespace}$`));
  // Each handler exits after its one answer: its intercept ends and tp passes on the exit code.
  t.is(await alpha.done, 7, alpha.stderr());
  t.is(await beta.done, 7, beta.stderr());
  for (const name of [ALPHA, BETA]) {
    const { stdout } = await laptop.tp(['status', '--use', name]);
    t.regex(stdout, /Intercepts: none/);
  }
});

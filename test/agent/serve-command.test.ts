// `tp agent serve` as the injected container runs it: settings from the environment only.
// Runs the built CLI (bin/run.js → dist), like test/cli.
import { execFile, spawn } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { AGENT_TOKEN, FakeManager } from './helpers/fake-manager.js';
import { get, startNamedHttpServer } from './helpers/servers.js';

const tpBin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const run = promisify(execFile);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

test('tp agent serve without its settings says which variable is missing and exits 1', async (t) => {
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/' };
  const error = await t.throwsAsync(run('node', [tpBin, 'agent', 'serve'], { env }));
  t.is((error as { code?: number }).code, 1);
  t.regex(String((error as { stderr?: string }).stderr), /TP_AGENT_MANAGER_URL: is not set \(TP_ERR_AGENT_CONFIG\)\nTry this:/);
});

test('tp agent serve forwards to the app, says hello with the app env, and stops on SIGTERM', async (t) => {
  const app = await startNamedHttpServer(t, 'app');
  const manager = await FakeManager.start();
  t.teardown(() => manager.stop());
  const agentPort = await freePort();
  const hello = manager.waitFor('hello', () => true, 20_000);
  const child = spawn('node', [tpBin, 'agent', 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      TP_AGENT_MANAGER_URL: manager.url,
      TP_AGENT_TOKEN: AGENT_TOKEN,
      TP_AGENT_WORKLOAD: 'Deployment/hello',
      TP_AGENT_CONTAINER: 'hello',
      TP_AGENT_NAMESPACE: 'default',
      TP_AGENT_POD: 'hello-1',
      TP_AGENT_POD_IP: '127.0.0.1',
      TP_AGENT_PORTS: JSON.stringify([{ name: 'http', agentPort, appPort: app.port }]),
      GREETING: 'from the app container',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += String(chunk)));
  child.stderr.on('data', (chunk: Buffer) => (stderr += String(chunk)));
  const params = await hello;
  t.deepEqual(Object.keys((params as { environment: Record<string, string> }).environment).sort(), ['GREETING', 'PATH']);
  t.is((await get(agentPort, '/via-agent')).body, 'app GET /via-agent\n');
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.is(await exited, 0);
  t.regex(stdout, /traffic-agent for Deployment\/hello stopped \(SIGTERM\)/);
  t.false(stderr.includes(AGENT_TOKEN));
});

// Global intercepts end to end: tp runs as the unprivileged test user, the requests come from a
// pod inside the cluster, and the answers prove which side served them (the laptop's server, or
// an echo pod). Also a raw TCP intercept byte for byte, a numeric targetPort with the Service put
// back exactly on uninstall, and the errors a user meets.
import test from 'ava';
import { createServer, type Server } from 'node:net';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { execInPod } from '../helpers/cluster.js';
import { eventually, spawnTp, type Laptop } from '../helpers/laptop.js';
import { answeredBy, connectLaptop, curlFromPod, disconnectLaptop, localServer, specOf, type InterceptEnv, type LocalServer } from './helpers.js';

let env: InterceptEnv;
let laptop: Laptop;
let server: LocalServer;

test.before(async () => {
  ({ env, laptop, server } = await connectLaptop('tp-ic-global', 'alice'));
});
test.after.always(() => disconnectLaptop({ env, laptop, server }));

const tp = (args: string[], timeoutMs?: number) => env.tp(laptop, [...args, '-n', env.namespace], timeoutMs);

test.serial('a global intercept sends every request for the Service to the laptop, and tp leave gives it back to the pods', async (t) => {
  const { stdout } = await tp(['intercept', 'web', '--port', `${server.port}:http`, '--output', 'json']);
  const result = JSON.parse(stdout) as { intercept: { name: string; state: string; destination: string } };
  t.is(result.intercept.state, 'ACTIVE');
  t.is(result.intercept.destination, `127.0.0.1:${server.port}`);

  for (let i = 0; i < 4; i++) t.is(answeredBy(await curlFromPod(env.namespace, [`http://web.${env.namespace}/global-${i}`])), 'laptop alice');
  t.true(server.requests.some((r) => r.url === '/global-3'));

  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { features: { intercepts: { name: string; state: string }[] } };
  t.deepEqual(status.features.intercepts.map((i) => [i.name, i.state]), [['web', 'ACTIVE']]);
  const list = JSON.parse((await tp(['list', '--output', 'json'])).stdout) as { workloads: { name: string; agentInstalled: boolean; intercepts: { name: string }[] }[] };
  const web = list.workloads.find((w) => w.name === 'web')!;
  t.true(web.agentInstalled);
  t.deepEqual(web.intercepts.map((i) => i.name), ['web']);

  await laptop.tp(['leave', 'web']);
  const after = await eventually(async () => {
    const by = answeredBy(await curlFromPod(env.namespace, [`http://web.${env.namespace}/after`]));
    if (!by.startsWith('pod web-')) throw new Error(`answered by ${by}`);
    return by;
  }, 15_000);
  t.regex(after, /^pod web-/);
});

test.serial('with the agent in place and no intercept, the pods answer unchanged', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) seen.add(answeredBy(await curlFromPod(env.namespace, [`http://web.${env.namespace}/plain`])));
  t.true([...seen].every((by) => by.startsWith('pod web-')), [...seen].join(' '));
});

test.serial('a global intercept of a raw TCP service carries bytes unchanged both ways', async (t) => {
  const received: Buffer[] = [];
  const echo: Server = createServer((socket) => {
    socket.on('data', (chunk) => received.push(chunk));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  t.teardown(() => echo.close());
  const port = (echo.address() as AddressInfo).port;
  await tp(['intercept', 'raw', '--port', String(port)]);
  t.teardown(() => laptop.tp(['leave', 'raw']).catch(() => undefined));

  // The pod sends 256 KiB of random bytes and prints the digests of what it sent and what came back.
  const script = [
    "const net = require('net'), c = require('crypto');",
    'const p = c.randomBytes(262144); const got = [];',
    `const s = net.connect(9000, 'raw.${env.namespace}', () => s.write(p));`,
    "const h = (b) => c.createHash('sha256').update(b).digest('hex');",
    "s.on('data', (d) => { got.push(d); if (Buffer.concat(got).length >= p.length) { console.log(h(p) + ' ' + h(Buffer.concat(got))); s.destroy(); } });",
  ].join('\n');
  const run = await execInPod('client', ['node', '-e', script], env.namespace, 30_000);
  t.is(run.code, 0, run.stderr);
  const [digest, echoed] = run.stdout.trim().split(' ');
  t.is(echoed, digest);
  t.is(createHash('sha256').update(Buffer.concat(received)).digest('hex'), digest);
});

test.serial("the laptop's app sees only the client's connections: the pods' readiness probes stay in the cluster", async (t) => {
  const accepted: string[] = [];
  const echo: Server = createServer((socket) => {
    let first = '';
    accepted.push(first);
    const index = accepted.length - 1;
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      first += chunk.toString('latin1');
      accepted[index] = first;
    });
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  t.teardown(() => echo.close());
  await tp(['intercept', 'raw', '--port', String((echo.address() as AddressInfo).port)]);
  t.teardown(() => laptop.tp(['leave', 'raw']).catch(() => undefined));

  // Five connections a second apart: the pod's probes (one a second) run all through them.
  const count = 5;
  const script = `
const net = require('net');
const one = (i) => new Promise((done, fail) => { const s = net.connect(9000, 'raw.${env.namespace}', () => s.write('client ' + i + '\\n'));
  s.on('data', () => { s.destroy(); done(); }); s.on('error', fail); });
(async () => { for (let i = 0; i < ${count}; i++) { await one(i); await new Promise((r) => setTimeout(r, 1000)); } console.log('done'); })();`;
  const run = await execInPod('client', ['node', '-e', script], env.namespace, 60_000);
  t.is(run.code, 0, run.stderr);
  t.deepEqual(accepted, Array.from({ length: count }, (_, i) => `client ${i}\n`), 'every connection the laptop saw is one the client made, in order');
});

test.serial('a numeric targetPort is pointed at the agent, and uninstall puts workload and Service back field for field', async (t) => {
  const deploymentBefore = await specOf(env.namespace, 'deployment', 'webnum');
  const serviceBefore = await specOf(env.namespace, 'service', 'webnum');
  await tp(['intercept', 'webnum', '--port', `${server.port}:alt`]);
  const patched = await specOf(env.namespace, 'service', 'webnum') as { spec: { ports: { name: string; targetPort: unknown }[] } };
  t.deepEqual(patched.spec.ports.map((p) => [p.name, p.targetPort]), [['http', 9900], ['alt', 9900]]);
  t.is(answeredBy(await curlFromPod(env.namespace, [`http://webnum.${env.namespace}:81/numeric`])), 'laptop alice');

  const { stdout } = await tp(['uninstall', '--agent', 'webnum', '--output', 'json']);
  t.deepEqual((JSON.parse(stdout) as { restored: string[] }).restored, ['Deployment/webnum']);
  t.deepEqual(await specOf(env.namespace, 'deployment', 'webnum'), deploymentBefore);
  t.deepEqual(await specOf(env.namespace, 'service', 'webnum'), serviceBefore);
  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { features: { intercepts: unknown[] } };
  t.deepEqual(status.features.intercepts, []);
});

test.serial('errors name what exists: no such workload, no Service, a bad port, a conflicting intercept', async (t) => {
  const error = async (args: string[]) => {
    const failed = await tp([...args, '--output', 'json']).then(() => null, (e: { stdout: string }) => e.stdout);
    t.truthy(failed, `${args.join(' ')} should fail`);
    return (JSON.parse(failed!) as { error: { code: string; message: string; hints: string[] } }).error;
  };
  const noWorkload = await error(['intercept', 'nope', '--port', '8080']);
  t.is(noWorkload.code, 'TP_ERR_INTERCEPT_NO_WORKLOAD');
  t.regex(noWorkload.message, /deployment\/web\b/);
  const noService = await error(['intercept', 'lonely', '--port', '8080']);
  t.is(noService.code, 'TP_ERR_INTERCEPT_NO_SERVICE');
  const badPort = await error(['intercept', 'web', '--port', '8080:nope']);
  t.is(badPort.code, 'TP_ERR_INTERCEPT_NO_PORT');
  t.regex(badPort.message, /http \(80\)/);

  await tp(['intercept', 'web', '--port', String(server.port)]);
  t.teardown(() => laptop.tp(['leave', 'web']).catch(() => undefined));
  const bob = env.newLaptop('bob');
  t.teardown(() => bob.cleanup());
  const conflict = await env.tp(bob, ['intercept', 'web', '--port', '8080', '-n', env.namespace, '--output', 'json']).then(() => null, (e: { stdout: string }) => e.stdout);
  const body = (JSON.parse(conflict!) as { error: { code: string; message: string } }).error;
  t.is(body.code, 'TP_ERR_INTERCEPT_CONFLICT');
  t.regex(body.message, /held by tpuser@/);
});

test.serial('a request arriving when nothing listens on the local port gets a 502 that says so, and tp status shows the warning', async (t) => {
  const closed = await localServer('gone');
  const port = closed.port;
  await closed.close();
  await tp(['intercept', 'envapp', '--port', String(port)]);
  t.teardown(() => laptop.tp(['leave', 'envapp']).catch(() => undefined));
  const result = await execInPod('client', ['curl', '-sS', '--max-time', '10', '-w', '\\n%{http_code}', `http://envapp.${env.namespace}/`], env.namespace);
  const [body, code] = [result.stdout.slice(0, result.stdout.lastIndexOf('\n')), result.stdout.slice(result.stdout.lastIndexOf('\n') + 1)];
  t.is(code, '502');
  t.regex(body, new RegExp(`nothing is listening there.*tp leave envapp`, 's'));
  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { features: { intercepts: { name: string; warning?: string }[] } };
  t.regex(status.features.intercepts.find((i) => i.name === 'envapp')?.warning ?? '', new RegExp(`nothing is listening on 127.0.0.1:${port}`));
});

// An HTTP app as `tp run --netns` runs it: on 127.0.0.1:8080 of its own namespace.
const NAMESPACED_APP = `
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("laptop netns " + self.path + "\\n").encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path == "/quit": os._exit(0)
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", 8080), Handler).serve_forever()
`;

test.serial('an app under tp run --netns takes a global intercept through --publish', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  const app = spawnTp(laptop, ['run', '--netns', '--publish', `${port}:8080`, '--', 'python3', '-c', NAMESPACED_APP]);
  await eventually(async () => {
    const response = await fetch(`http://127.0.0.1:${port}/ready`);
    if (!(await response.text()).startsWith('laptop netns')) throw new Error('not the app');
  });
  await tp(['intercept', 'web', '--port', `${port}:http`]);
  t.teardown(() => laptop.tp(['leave', 'web']).catch(() => undefined));
  t.is(answeredBy(await curlFromPod(env.namespace, [`http://web.${env.namespace}/through-publish`])), 'laptop netns');
  await laptop.tp(['leave', 'web']);
  await fetch(`http://127.0.0.1:${port}/quit`).catch(() => undefined);
  t.is((await app.done).code, 0);
});

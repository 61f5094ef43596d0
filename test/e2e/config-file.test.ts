// The user's config file is what tp connect uses when no flag says otherwise: its namespace is the
// one single-label names resolve in, its manager namespace the manager tp reaches; a flag wins.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Laptop } from './helpers/laptop.js';
import { connect } from './helpers/laptop.js';
import { setUpWorkloads, tearDownNamespace, type InterceptEnv } from './intercept/helpers.js';

let env: InterceptEnv;
let laptop: Laptop;

test.before(async () => {
  env = await setUpWorkloads('tp-config', 'test/e2e/intercept/fixtures/workloads.yaml.tmpl', ['web']);
  laptop = env.newLaptop('dev');
  laptop.env.XDG_CONFIG_HOME = join(laptop.home, 'config');
  mkdirSync(join(laptop.home, 'config', 'tp'), { recursive: true });
  writeFileSync(join(laptop.home, 'config', 'tp', 'config.yaml'), `# tp's defaults for this laptop\nnamespace: ${env.namespace}\nmanager-namespace: ${env.managerNamespace}\nlog-level: debug\n`, { mode: 0o644 });
});

test.after.always(async () => {
  await laptop?.cleanup();
  await tearDownNamespace(env);
});

test.serial('tp connect without flags takes namespace, manager namespace and log level from the config file', async (t) => {
  const { listeners, status } = await connect(laptop);
  t.is(status.namespace, env.namespace);
  t.is(status.managerNamespace, env.managerNamespace);
  t.is(status.logLevel, 'debug');
  // A single-label name resolves in the file's namespace: `web` is a Service only there.
  const { stdout } = await laptop.run('curl', ['-sS', '--fail', '--max-time', '10', '--socks5-hostname', listeners.socks, 'http://web/']);
  t.regex((JSON.parse(stdout) as { pod: string }).pod, /^web-/);
  const view = JSON.parse((await laptop.tp(['config', 'view', '--output', 'json'])).stdout) as { settings: Record<string, { value: unknown; source: string }> };
  t.deepEqual(view.settings.namespace, { value: env.namespace, source: 'file' });
});

test.serial('a flag overrides the file', async (t) => {
  await laptop.tp(['quit']);
  const { status } = await connect(laptop, ['-n', 'default', '--log-level', 'info']);
  t.is(status.namespace, 'default');
  t.is(status.managerNamespace, env.managerNamespace, 'what no flag names still comes from the file');
  t.is(status.logLevel, 'info');
});

// The npm package as a user gets it: `npm pack` of this checkout, installed with `npm install -g`
// by the unprivileged test user into a prefix in its home, on a PATH without any C compiler, with
// its dependencies from the registry. The installed tp then connects to the suite's cluster and
// `tp run` loads the prebuilt LD_PRELOAD library shipped for this machine. One pack and one
// install per run; the figures go to the test log.
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PREBUILT_PLATFORMS } from '../../src/run/shim-files.js';
import { RUNNING_AS_ROOT, TEST_USER } from '../helpers/unprivileged.js';
import { coreApi } from './helpers/cluster.js';
import { CHECKOUT, ensureDemoAndManager, eventually, newLaptop, type Laptop } from './helpers/laptop.js';

const execFileAsync = promisify(execFile);
const PACKAGE = JSON.parse(readFileSync(join(CHECKOUT, 'package.json'), 'utf8')) as { name: string; version: string; devDependencies: Record<string, string> };
// What the install and the installed tp may run: no cc, gcc or anything else that compiles C.
const TOOLS = ['node', 'npm', 'sh', 'env', 'uname', 'getconf', 'sed', 'sort', 'head', 'cat', 'dirname', 'readlink', 'mkdir', 'mv', 'rm', 'od', 'tr', 'grep', 'curl'];
const COMPILERS = ['cc', 'gcc', 'c99', 'clang', 'tcc', 'x86_64-linux-gnu-gcc', 'aarch64-linux-gnu-gcc'];
const ELF_MACHINE: Record<string, number> = { 'linux-x64': 62, 'linux-arm64': 183 };

let laptop: Laptop;
let work: string;
let prefix: string;
let tp: (args: string[], timeoutMs?: number) => Promise<{ stdout: string; stderr: string }>;
let installOutput: string;
let packed: { filename: string; size: number; files: { path: string }[] };

test.before(async (t) => {
  t.timeout(600_000, 'npm pack and npm install -g of the package');
  laptop = newLaptop('package');
  await ensureDemoAndManager(laptop);
  work = mkdtempSync(join(tmpdir(), 'tp-package-'));
  const started = Date.now();
  const { stdout } = await execFileAsync('npm', ['pack', '--json', '--pack-destination', work], { cwd: CHECKOUT, encoding: 'utf8', timeout: 180_000 });
  [packed] = JSON.parse(stdout) as [typeof packed];
  t.log(`npm pack: ${packed.filename}, ${(packed.size / 1024).toFixed(1)} KiB, ${packed.files.length} files, ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const bin = join(work, 'bin');
  mkdirSync(bin);
  for (const tool of TOOLS) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
  prefix = join(laptop.home, 'npm-global');
  if (RUNNING_AS_ROOT) for (const path of [work, join(work, packed.filename)]) chownSync(path, ...userIds());
  const env = { PATH: `${prefix}/bin:${bin}` };
  const npmEnv = { ...env, ...(await registryAccess()), npm_config_cache: join(homeOf(TEST_USER), '.npm'), npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
  const installStarted = Date.now();
  const installed = await laptop.run('npm', ['install', '-g', '--prefix', prefix, '--foreground-scripts', join(work, packed.filename)], { env: npmEnv, timeoutMs: 300_000 });
  installOutput = installed.stdout + installed.stderr;
  t.log(`npm install -g as ${TEST_USER}: ${((Date.now() - installStarted) / 1000).toFixed(1)} s`);
  tp = (args, timeoutMs) => laptop.run(join(prefix, 'bin/tp'), args, { env, timeoutMs });
});

test.after.always(async () => {
  await tp?.(['quit']).catch(() => undefined);
  await laptop?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** How this machine reaches the npm registry (a CA file, a proxy), as the user running the tests has it. */
async function registryAccess(): Promise<NodeJS.ProcessEnv> {
  const cafile = (await execFileAsync('npm', ['config', 'get', 'cafile'], { encoding: 'utf8' })).stdout.trim();
  const passed = ['NODE_EXTRA_CA_CERTS', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'].filter((name) => process.env[name]);
  return { ...Object.fromEntries(passed.map((name) => [name, process.env[name]])), ...(cafile && cafile !== 'null' ? { npm_config_cafile: cafile } : {}) };
}

function userIds(): [number, number] {
  return [Number(execFileSync('id', ['-u', TEST_USER], { encoding: 'utf8' })), Number(execFileSync('id', ['-g', TEST_USER], { encoding: 'utf8' }))];
}

function homeOf(user: string): string {
  return execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).split(':')[5]!;
}

const installedRoot = (): string => join(prefix, 'lib/node_modules', PACKAGE.name);

test.serial('the install ran on a PATH without a C compiler and took the prebuilt library instead of compiling', async (t) => {
  for (const compiler of COMPILERS) {
    const probe = await laptop.run('sh', ['-c', `command -v ${compiler}`], { env: { PATH: `${prefix}/bin:${join(work, 'bin')}` } }).then(() => 'found', () => 'missing');
    t.is(probe, 'missing', compiler);
  }
  const platform = PREBUILT_PLATFORMS[process.arch]!;
  t.true(installOutput.includes(`tp: using the prebuilt LD_PRELOAD library shims/prebuilt/${platform}/libtp.so`), installOutput);
  t.false(existsSync(join(installedRoot(), 'shims/build/libtp.so')));
});

test.serial('the package holds the built CLI, both prebuilt libraries for their architectures, the C sources and the Node preload, and nothing of the tests', (t) => {
  const paths = packed.files.map((file) => file.path);
  for (const path of ['bin/tp', 'bin/run.js', 'oclif.manifest.json', 'dist/commands/run.js', 'shims/build.sh', 'shims/libtp/shim.h', 'shims/node/preload.cjs', 'README.md', 'package.json']) t.true(paths.includes(path), path);
  t.deepEqual(paths.filter((path) => /^(test|src|bench|scripts|docs|\.sandbox|node_modules|shims\/build)\//.test(path) || path.endsWith('.map')), []);
  for (const [platform, machine] of Object.entries(ELF_MACHINE)) {
    const library = readFileSync(join(installedRoot(), 'shims/prebuilt', platform, 'libtp.so'));
    t.is(library.subarray(0, 4).toString('latin1'), '\x7fELF', platform);
    t.is(library.readUInt16LE(18), machine, `${platform}: ELF e_machine`);
    t.regex(readFileSync(join(installedRoot(), 'shims/prebuilt', platform, 'glibc-version'), 'utf8'), /^2\.\d+\n$/);
    t.true(existsSync(join(installedRoot(), 'shims/prebuilt', platform, 'tp-peer-uid')), `the ${platform} owner lookup helper ships`);
  }
});

test.serial('tp imports only its production dependencies, and no devDependency was installed on its account', (t) => {
  const root = installedRoot();
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; optionalDependencies?: Record<string, string> };
  const production = new Set([...Object.keys(manifest.dependencies), ...Object.keys(manifest.optionalDependencies ?? {})]);
  const imported = new Set<string>();
  const code = ['dist', 'bin'].flatMap((dir) => (readdirSync(join(root, dir), { recursive: true }) as string[]).filter((name) => name.endsWith('.js')).map((name) => join(dir, name)));
  for (const file of code) {
    for (const [, specifier] of readFileSync(join(root, file), 'utf8').matchAll(/(?:from |import\(|require\()'([^'.][^']*)'/g)) {
      if (!specifier!.startsWith('node:')) imported.add(specifier!.split('/').slice(0, specifier!.startsWith('@') ? 2 : 1).join('/'));
    }
  }
  t.true(imported.has('@oclif/core'), [...imported].join(' '));
  t.deepEqual([...imported].filter((name) => !production.has(name)), []);
  // A devDependency may be there only because a production dependency needs it too.
  const installed = installedPackages(join(root, 'node_modules'));
  const needed = new Set([...installed.values()].flatMap((pkg) => [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]));
  t.deepEqual(Object.keys(PACKAGE.devDependencies).filter((name) => installed.has(name) && !needed.has(name)), []);
  t.false(installed.has('tsx') || installed.has('ava') || installed.has('typescript'), [...installed.keys()].join(' '));
});

type Manifest = { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string> };

/** Every package under node_modules (nested ones too), by name. */
function installedPackages(dir: string, found = new Map<string, Manifest>()): Map<string, Manifest> {
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('.')) continue;
    const names = entry.startsWith('@') ? readdirSync(join(dir, entry)).map((name) => `${entry}/${name}`) : [entry];
    for (const name of names) {
      const manifest = join(dir, name, 'package.json');
      if (!existsSync(manifest)) continue;
      found.set(name, JSON.parse(readFileSync(manifest, 'utf8')) as Manifest);
      installedPackages(join(dir, name, 'node_modules'), found);
    }
  }
  return found;
}

test.serial('the installed tp says its version', async (t) => {
  const { stdout } = await tp(['version']);
  t.true(stdout.includes(PACKAGE.version), stdout);
});

test.serial('the installed tp connects, and tp run -- curl reaches a Service through the prebuilt LD_PRELOAD library alone', async (t) => {
  const connected = JSON.parse((await tp(['connect', '--output', 'json'], 90_000)).stdout) as { status: { phase: string } };
  t.is(connected.status.phase, 'connected');
  const platform = PREBUILT_PLATFORMS[process.arch]!;
  const maps = await tp(['run', '--', 'grep', 'libtp', '/proc/self/maps']);
  t.true(maps.stdout.includes(join(installedRoot(), 'shims/prebuilt', platform, 'libtp.so')), maps.stdout);
  // --noproxy '*': curl ignores the proxy variables, so only the preloaded library can carry it.
  const { stdout, stderr } = await eventually(() => tp(['run', '--', 'curl', '-sS', '--fail', '--noproxy', '*', '--max-time', '10', 'http://hello.default/'], 60_000));
  const pods = await coreApi().listNamespacedPod({ namespace: 'default', labelSelector: 'app=hello' });
  t.true(pods.items.map((pod) => pod.metadata!.name!).includes((JSON.parse(stdout) as { pod: string }).pod), stdout);
  t.false(stderr.includes('LD_PRELOAD'), stderr);
  await tp(['quit']);
  const { stdout: after } = await tp(['status', '--output', 'json']);
  t.false((JSON.parse(after) as { connected: boolean }).connected, after);
});

import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { configFilePath, parseConfig, readConfigFile, resolveConfig } from '../../src/cli/config-file.js';
import { TpError } from '../../src/errors.js';

const tpBin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const FILE = '/home/u/.config/tp/config.yaml';

test('the file lives under $XDG_CONFIG_HOME, else ~/.config', (t) => {
  t.is(configFilePath({ XDG_CONFIG_HOME: '/x', HOME: '/h' }), '/x/tp/config.yaml');
  t.is(configFilePath({ HOME: '/h' }), '/h/.config/tp/config.yaml');
});

test('every key is read; a single proxy pattern becomes a list', (t) => {
  const text = 'namespace: team-a\nmanager-namespace: tp-x\nalso-proxy: 10.20.0.0/16\nnever-proxy: [a.example, 10.0.0.0/8]\nlog-level: debug\nimage: r.example/tp:1\nnetns: try\n';
  t.deepEqual(parseConfig(text, FILE), {
    namespace: 'team-a',
    'manager-namespace': 'tp-x',
    'also-proxy': ['10.20.0.0/16'],
    'never-proxy': ['a.example', '10.0.0.0/8'],
    'log-level': 'debug',
    image: 'r.example/tp:1',
    netns: 'try',
  });
  // YAML's true and false say on and off.
  t.deepEqual(parseConfig('netns: true\n', FILE), { netns: 'on' });
  t.deepEqual(parseConfig('netns: false\n', FILE), { netns: 'off' });
  t.deepEqual(parseConfig('netns: on\n', FILE), { netns: 'on' });
  t.deepEqual(parseConfig('', FILE), {});
  t.deepEqual(parseConfig('# only a comment\n', FILE), {});
});

function configError(t: import('ava').ExecutionContext, text: string): TpError {
  const err = t.throws(() => parseConfig(text, FILE), { instanceOf: TpError }) as TpError;
  t.is(err.code, 'TP_ERR_CONFIG_FILE');
  t.true(err.message.includes(FILE));
  t.true(err.hints.length > 0);
  return err;
}

test('an unknown key is refused with its line number', (t) => {
  const err = configError(t, 'namespace: a\n\nnamespce: b\n');
  t.regex(err.message, /unknown key "namespce" at line 3/);
  t.regex(err.hints[0], /namespace, manager-namespace/);
});

test('malformed YAML, a non-mapping, wrong value types and a bad log level are refused with the line', (t) => {
  t.regex(configError(t, 'namespace: a\nimage: [unclosed\n').message, /not valid YAML at line \d/);
  t.regex(configError(t, '- a\n- b\n').message, /must be a mapping/);
  t.regex(configError(t, 'namespace: a\nnamespace: b\n').message, /not valid YAML at line \d: Map keys must be unique/);
  t.regex(configError(t, 'namespace: a\nimage: {x: 1}\n').message, /text value for "image" at line 2/);
  t.regex(configError(t, 'also-proxy: [1, {a: b}]\n').message, /list of texts for "also-proxy" at line 1/);
  t.regex(configError(t, 'log-level: loud\n').message, /not a log level/);
  t.regex(configError(t, 'netns: sometimes\n').message, /netns "sometimes".*on, try, off/);
});

test('a missing file is no file; a file too large is refused before parsing', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tp-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.deepEqual(readConfigFile(path.join(dir, 'none.yaml')), {});
  writeFileSync(path.join(dir, 'big.yaml'), `# ${'x'.repeat(70_000)}\n`);
  t.throws(() => readConfigFile(path.join(dir, 'big.yaml')), { message: /at most 65536/ });
});

test('precedence: flag over environment over file over default', (t) => {
  const file = { namespace: 'from-file', 'log-level': 'warn', 'also-proxy': ['10.1.0.0/16'] };
  const none = resolveConfig({}, {}, {});
  t.deepEqual(none.namespace, { value: undefined, source: 'default' });
  t.deepEqual(none['manager-namespace'], { value: 'tp', source: 'default' });
  t.deepEqual(none['log-level'], { value: 'info', source: 'default' });
  const fromFile = resolveConfig({}, {}, file);
  t.deepEqual(fromFile.namespace, { value: 'from-file', source: 'file' });
  t.deepEqual(fromFile['also-proxy'], { value: ['10.1.0.0/16'], source: 'file' });
  t.deepEqual(resolveConfig({}, { TP_LOG_LEVEL: 'error' }, file)['log-level'], { value: 'error', source: 'env' });
  const flagged = resolveConfig({ 'log-level': 'debug', namespace: 'cli', 'also-proxy': ['10.9.0.0/16'] }, { TP_LOG_LEVEL: 'error' }, file);
  t.deepEqual(flagged['log-level'], { value: 'debug', source: 'flag' });
  t.deepEqual(flagged.namespace, { value: 'cli', source: 'flag' });
  t.deepEqual(flagged['also-proxy'], { value: ['10.9.0.0/16'], source: 'flag' }, 'flags replace the file\'s list, they do not add to it');
});

test('tp config view reports each value and its source, through the real CLI', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tp-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'tp'));
  writeFileSync(path.join(dir, 'tp', 'config.yaml'), 'namespace: team-a\nmanager-namespace: tp-team\n');
  const env = { ...process.env, XDG_CONFIG_HOME: dir, TP_LOG_LEVEL: 'warn' };
  const { stdout } = await promisify(execFile)('node', [tpBin, 'config', 'view', '--output', 'json', '--manager-namespace', 'tp-cli'], { env });
  const { file, settings } = JSON.parse(stdout);
  t.is(file, path.join(dir, 'tp', 'config.yaml'));
  t.deepEqual(settings.namespace, { value: 'team-a', source: 'file' });
  t.deepEqual(settings['manager-namespace'], { value: 'tp-cli', source: 'flag' });
  t.deepEqual(settings['log-level'], { value: 'warn', source: 'env' });
  const text = (await promisify(execFile)('node', [tpBin, 'config'], { env })).stdout;
  t.regex(text, /namespace: +team-a +\(file\)/);
  writeFileSync(path.join(dir, 'tp', 'config.yaml'), 'namespace: team-a\nbogus: 1\n');
  const err = await t.throwsAsync(promisify(execFile)('node', [tpBin, 'manager', 'manifest'], { env }));
  t.regex(String((err as { stderr?: string }).stderr), /unknown key "bogus" at line 2\. \(TP_ERR_CONFIG_FILE\)\nTry this:/);
});

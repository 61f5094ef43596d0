import test from 'ava';
import { execFileSync } from 'node:child_process';
import { formatEnv } from '../../src/intercept/env-file.js';

const env = { B: 'two words', A: 'it\'s $HOME `x` "q"', MULTI: 'line1\nline2', 'not-shell': 'v' };

test('docker syntax writes KEY=VALUE unquoted, sorted, leaving out what it cannot hold', (t) => {
  const { text, skipped } = formatEnv(env, 'docker');
  t.is(text, 'A=it\'s $HOME `x` "q"\nB=two words\nnot-shell=v\n');
  t.deepEqual(skipped, ['MULTI (a docker env file cannot hold a line break)']);
});

test('sh syntax reads back unchanged in a real shell, line breaks and quotes included', (t) => {
  const { text, skipped } = formatEnv(env, 'sh');
  t.deepEqual(skipped, ['not-shell (not a shell variable name)']);
  const out = execFileSync('sh', ['-c', `${text}\nprintf '%s|%s|%s' "$A" "$B" "$MULTI"`], { encoding: 'utf8' });
  t.is(out, `${env.A}|${env.B}|${env.MULTI}`);
});

test('json syntax keeps every variable', (t) => {
  t.deepEqual(JSON.parse(formatEnv(env, 'json').text), env);
});

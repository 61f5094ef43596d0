import test from 'ava';
import { splitRunArgv as split, valueFlagNames } from '../../src/run/argv.js';
import Run from '../../src/commands/run.js';

const VALUE_FLAGS = valueFlagNames({ ...Run.baseFlags, ...Run.flags });
const splitRunArgv = (argv: string[]) => split(argv, VALUE_FLAGS);

test('the flags that take a value are read from the command itself', (t) => {
  for (const name of ['--kubeconfig', '--context', '-n', '--namespace', '--also-proxy', '-o', '--output', '--host-port', '--publish', '-p']) t.true(VALUE_FLAGS.has(name), name);
  for (const name of ['--netns', '--keep-connected', '--env-only']) t.false(VALUE_FLAGS.has(name), name);
});

test('--publish and --host-port take the next word', (t) => {
  t.deepEqual(splitRunArgv(['--netns', '--publish', '8080', '--host-port', '5432', 'server']), { tpArgv: ['--netns', '--publish', '8080', '--host-port', '5432'], command: ['server'] });
  t.deepEqual(splitRunArgv(['-p', '8080', '--', 'server']), { tpArgv: ['-p', '8080'], command: ['server'] });
});

test('everything after -- is the command', (t) => {
  t.deepEqual(splitRunArgv(['-n', 'team', '--keep-connected', '--', 'curl', '-s', '--', 'x']), { tpArgv: ['-n', 'team', '--keep-connected'], command: ['curl', '-s', '--', 'x'] });
});

test('without --, the command starts at the first word that is not a tp flag', (t) => {
  t.deepEqual(splitRunArgv(['--context', 'c1', 'curl', '-s', 'http://x/']), { tpArgv: ['--context', 'c1'], command: ['curl', '-s', 'http://x/'] });
  t.deepEqual(splitRunArgv(['--no-preload', 'env']), { tpArgv: ['--no-preload'], command: ['env'] });
  t.deepEqual(splitRunArgv(['--also-proxy=10.0.0.0/8', 'sh']), { tpArgv: ['--also-proxy=10.0.0.0/8'], command: ['sh'] });
});

test('no command at all', (t) => {
  t.deepEqual(splitRunArgv(['--env-only']), { tpArgv: ['--env-only'], command: [] });
  t.deepEqual(splitRunArgv([]), { tpArgv: [], command: [] });
});

import test from 'ava';
import { splitRunArgv } from '../../src/run/argv.js';

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

import test from 'ava';
import { exitCode, parseClientFrame, parseExecOptions, statusFrame } from '../exec-frames.js';
import { ApiStatusError } from '../status-errors.js';

const url = (query: string) => new URL(`https://x/api/v1/namespaces/default/pods/p/exec?${query}`);

test('parseExecOptions reads repeated command= and the stream flags', (t) => {
  t.deepEqual(parseExecOptions(url('command=sh&command=-c&command=echo%20hi&stdout=true&stderr=1&container=main')), {
    command: ['sh', '-c', 'echo hi'], container: 'main', stdin: false, stdout: true, stderr: true, tty: false,
  });
});

test('parseExecOptions refuses what upstream refuses, and TTYs, with 400s that say why', (t) => {
  const bad = (query: string) => t.throws(() => parseExecOptions(url(query)), { instanceOf: ApiStatusError });
  t.regex(bad('stdout=true').message, /at least one command/);
  t.regex(bad('command=ls').message, /at least 1 of stdin, stdout, stderr/);
  t.regex(bad('command=ls&stdout=maybe').message, /invalid value for stdout/);
  t.regex(bad('command=ls&stdout=true&tty=true').message, /TTY/);
  t.regex(bad(`${'command=x&'.repeat(1025)}stdout=true`).message, /at most 1024 arguments/);
});

test('parseClientFrame splits channel and payload; a close message must be exactly 2 bytes', (t) => {
  t.is(parseClientFrame(Buffer.alloc(0)), undefined);
  t.deepEqual(parseClientFrame(Buffer.from([0, 104, 105])), { kind: 'data', channel: 0, payload: Buffer.from('hi') });
  t.deepEqual(parseClientFrame(Buffer.from([0])), { kind: 'data', channel: 0, payload: Buffer.alloc(0) });
  t.deepEqual(parseClientFrame(Buffer.from([255, 0])), { kind: 'close', channel: 0 });
  t.throws(() => parseClientFrame(Buffer.from([255])), { message: /2 bytes/ });
  t.throws(() => parseClientFrame(Buffer.from([255, 0, 1])), { message: /2 bytes/ });
});

test('statusFrame is Success for 0 and NonZeroExitCode with the code as ExitCode cause otherwise', (t) => {
  const ok = statusFrame(0, ['true']);
  t.is(ok[0], 3);
  t.deepEqual(JSON.parse(ok.subarray(1).toString()), { metadata: {}, status: 'Success' });
  const failed = JSON.parse(statusFrame(7, ['sh', '-c', 'exit 7']).subarray(1).toString()) as { status: string; reason: string; details: { causes: unknown[] } };
  t.is(failed.status, 'Failure');
  t.is(failed.reason, 'NonZeroExitCode');
  t.deepEqual(failed.details.causes, [{ reason: 'ExitCode', message: '7' }]);
});

test('exitCode: the code, or 128 plus the signal number', (t) => {
  t.is(exitCode(3, null), 3);
  t.is(exitCode(null, 'SIGKILL'), 137);
  t.is(exitCode(null, 'SIGTERM'), 143);
});

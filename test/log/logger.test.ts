import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { currentLogLevel, logger, MAX_MESSAGE_CHARS, reportBadLogLevel, setLogLevel, setLogSink, type LogLevel } from '../../src/log/logger.js';

const LOGGER_TS = fileURLToPath(new URL('../../src/log/logger.ts', import.meta.url));

// The logger's level and sink are process-wide: these tests run one at a time and restore both.
function capture(t: { teardown(fn: () => void): void }, level: LogLevel): string[] {
  const lines: string[] = [];
  const previousLevel = currentLogLevel();
  const previousSink = setLogSink((line) => void lines.push(line));
  setLogLevel(level);
  t.teardown(() => {
    setLogSink(previousSink);
    setLogLevel(previousLevel);
  });
  return lines;
}

test.serial('at info, debug lines are left out and info, warn and error are written', (t) => {
  const lines = capture(t, 'info');
  const log = logger('tp:test');
  log('-> %s per-connection', 'c1');
  log.info('listening on %s:%d', '127.0.0.1', 1080);
  log.warn('careful');
  log.error('!! broken');
  t.false(log.enabled);
  t.is(lines.length, 3);
  t.regex(lines[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}tp:test listening on 127\.0\.0\.1:1080\n$/);
  t.regex(lines[1], / WARN {2}tp:test careful\n$/);
  t.regex(lines[2], / ERROR tp:test !! broken\n$/);
});

test.serial('at debug, per-connection lines are written too', (t) => {
  const lines = capture(t, 'debug');
  const log = logger('tp:test');
  log('-> %s per-connection', 'c1');
  t.true(log.enabled);
  t.is(lines.length, 1);
  t.regex(lines[0], / DEBUG tp:test -> c1 per-connection\n$/);
});

test.serial('at error, only errors are written', (t) => {
  const lines = capture(t, 'error');
  const log = logger('tp:test');
  log.info('a');
  log.warn('b');
  log.error('c');
  t.deepEqual(
    lines.map((line) => line.slice(25)),
    ['ERROR tp:test c\n'],
  );
});

test.serial('a host name carrying CR, LF and ESC cannot forge a line or reach the terminal', (t) => {
  const lines = capture(t, 'debug');
  const log = logger('tp:proxy:socks');
  const forged = 'evil.example\r\n2026-01-01T00:00:00.000Z INFO  tp:daemon connected: all good\x1b[2J\x1b]0;pwned\x07';
  log('-> %s CONNECT %s:%d', 's1', forged, 80);
  log.info('!! %s %s', 's1', new Error(`could not connect to ${forged}`).message);
  t.is(lines.length, 2);
  for (const line of lines) {
    t.is(line.indexOf('\n'), line.length - 1, 'one newline, at the end');
    t.false(['\r', '\x1b', '\x07'].some((char) => line.includes(char)));
    t.true(line.includes('evil.example\\r\\n2026-01-01T00:00:00.000Z INFO  tp:daemon connected: all good\\x1b[2J\\x1b]0;pwned\\x07'));
  }
  t.false(lines.join('').split('\n').some((line) => line.startsWith('2026-01-01')));
});

test.serial('objects printed with %o and %O stay on one line and are escaped too', (t) => {
  const lines = capture(t, 'debug');
  logger('tp:test')('%o %O', { host: 'a\nb', list: [1, 2, 3] }, new Map([['k', 'v\x1b']]));
  t.is(lines.length, 1);
  t.is(lines[0].split('\n').length, 2);
  t.false(lines[0].includes('\x1b'));
});

test.serial(`a message longer than ${MAX_MESSAGE_CHARS} characters is cut and says how much was left out`, (t) => {
  const lines = capture(t, 'info');
  logger('tp:test').info('%s', 'x'.repeat(MAX_MESSAGE_CHARS + 1000));
  t.is(lines.length, 1);
  t.true(lines[0].includes(`${'x'.repeat(100)}… (1000 more characters)\n`));
  t.true(lines[0].length < MAX_MESSAGE_CHARS + 200);
});

test.serial('a sink that throws does not break the caller', (t) => {
  capture(t, 'info');
  setLogSink(() => {
    throw new Error('disk full');
  });
  t.notThrows(() => logger('tp:test').error('still fine'));
});

test.serial('a TP_LOG_LEVEL that names no level is reported without its value, and info stays', (t) => {
  const lines = capture(t, 'info');
  reportBadLogLevel(logger('tp:manager'), { TP_LOG_LEVEL: 'loud-secretish' });
  reportBadLogLevel(logger('tp:manager'), { TP_LOG_LEVEL: 'DEBUG' });
  reportBadLogLevel(logger('tp:manager'), {});
  t.is(lines.length, 1);
  t.regex(lines[0], /WARN {2}tp:manager TP_LOG_LEVEL names no level \(debug, info, warn, error\); logging at info/);
  t.false(lines[0].includes('loud-secretish'));
});

/** Runs a small program in a fresh Node process (so the logger reads its environment anew); returns its stderr. */
function runNode(source: string, env: NodeJS.ProcessEnv): { stderr: string; status: number | null } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { stderr: result.stderr, status: result.status };
}

test('a process starts at the level TP_LOG_LEVEL names, case-insensitively, and at info without it', (t) => {
  const program = `import { logger } from ${JSON.stringify(LOGGER_TS)}; const log = logger('tp:test'); log('a debug line'); log.info('an info line');`;
  const atDebug = runNode(program, { TP_LOG_LEVEL: 'Debug' }).stderr;
  t.regex(atDebug, /DEBUG tp:test a debug line/);
  t.regex(atDebug, /INFO {2}tp:test an info line/);
  const byDefault = runNode(program, { TP_LOG_LEVEL: '' }).stderr;
  t.notRegex(byDefault, /a debug line/);
  t.regex(byDefault, /INFO {2}tp:test an info line/);
  const unknown = runNode(program, { TP_LOG_LEVEL: 'verbose' }).stderr;
  t.notRegex(unknown, /a debug line/);
  t.regex(unknown, /an info line/);
});

test('an uncaught exception or rejection leaves its stack, escaped, in the log and ends the process with code 1', (t) => {
  for (const [how, origin] of [
    ['setTimeout(deepInside, 1);', 'uncaughtException'],
    ['Promise.resolve().then(deepInside);', 'unhandledRejection'],
  ]) {
    const program = [
      `import { logger, logUncaught, setLogSink } from ${JSON.stringify(LOGGER_TS)};`,
      `import { appendFileSync } from 'node:fs';`,
      `setLogSink((line) => appendFileSync(1, 'LOG ' + line));`,
      `logUncaught(logger('tp:daemon'));`,
      `function deepInside() { throw new Error('boom from evil\\r\\x1b[2J.example\\nwith a second line'); }`,
      how,
    ].join('\n');
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], { encoding: 'utf8', timeout: 60_000 });
    t.is(result.status, 1, 'the process ends as Node ends it on an uncaught exception');
    t.false(result.stderr.includes('boom'), 'nothing raw reaches stderr');
    const logged = result.stdout.split('\n').filter((line) => line.startsWith('LOG '));
    t.regex(logged[0], new RegExp(`ERROR tp:daemon crashed \\(${origin}\\): Error: boom from evil\\\\r\\\\x1b\\[2J\\.example$`));
    t.regex(logged[1], /ERROR tp:daemon {3}with a second line$/);
    t.true(logged.some((line) => / ERROR tp:daemon +at .*deepInside /.test(line)), logged.join('\n'));
  }
});

import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { LOG_FILE_MAX_BYTES, LOG_FILES_KEPT, RotatingFile, rotateIfFull } from '../../src/log/rotating-file.js';

function tempLog(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tp-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'daemon-default.log');
}

const line = (n: number): string => `line ${String(n).padStart(6, '0')} ${'.'.repeat(40)}\n`;

test('at the size bound the file rotates, N old files are kept and together they hold the newest lines in order', (t) => {
  const path = tempLog(t);
  const limits = { maxBytes: 1000, keep: 3 };
  const file = new RotatingFile(path, limits);
  t.teardown(() => file.close());
  const total = 500;
  for (let n = 0; n < total; n++) file.write(line(n));
  const names = [`${path}.3`, `${path}.2`, `${path}.1`, path];
  for (const name of names) t.true(statSync(name).size <= limits.maxBytes, `${name} is within the bound`);
  t.false(existsSync(`${path}.4`), 'nothing older than .3 is kept');
  const kept = names.map((name) => readFileSync(name, 'utf8')).join('');
  const numbers = kept.trimEnd().split('\n').map((text) => Number(/^line (\d+) /.exec(text)![1]));
  t.is(numbers.at(-1), total - 1, 'the newest line is in the current file');
  t.deepEqual(numbers, numbers.map((_, i) => numbers[0] + i), 'no line is lost or reordered between the kept files');
  t.true(numbers.length >= (3 * limits.maxBytes) / line(0).length, 'the kept files are full ones');
});

test('a line is never split across two files', (t) => {
  const path = tempLog(t);
  const file = new RotatingFile(path, { maxBytes: 100, keep: 1 });
  t.teardown(() => file.close());
  file.write('a'.repeat(60) + '\n');
  file.write('b'.repeat(60) + '\n');
  t.is(readFileSync(`${path}.1`, 'utf8'), 'a'.repeat(60) + '\n');
  t.is(readFileSync(path, 'utf8'), 'b'.repeat(60) + '\n');
});

test('a file reopened after a restart keeps counting from its size on disk and is private to the user', (t) => {
  const path = tempLog(t);
  writeFileSync(path, 'x'.repeat(90) + '\n');
  const file = new RotatingFile(path, { maxBytes: 100, keep: 2 });
  t.teardown(() => file.close());
  file.write('y'.repeat(20) + '\n');
  t.is(readFileSync(`${path}.1`, 'utf8'), 'x'.repeat(90) + '\n');
  t.is(readFileSync(path, 'utf8'), 'y'.repeat(20) + '\n');
  t.is(statSync(path).mode & 0o777, 0o600);
});

test(`with the daemon's bounds (${LOG_FILES_KEPT} old files of ${LOG_FILE_MAX_BYTES} bytes) the log on disk stays bounded`, (t) => {
  const path = tempLog(t);
  const file = new RotatingFile(path);
  t.teardown(() => file.close());
  const chunk = `${'z'.repeat(1023)}\n`;
  const writes = Math.ceil(((LOG_FILES_KEPT + 2) * LOG_FILE_MAX_BYTES) / chunk.length);
  for (let i = 0; i < writes; i++) file.write(chunk);
  let onDisk = 0;
  for (const name of [path, ...Array.from({ length: LOG_FILES_KEPT }, (_, i) => `${path}.${i + 1}`)]) {
    const size = statSync(name).size;
    t.true(size <= LOG_FILE_MAX_BYTES);
    onDisk += size;
  }
  t.false(existsSync(`${path}.${LOG_FILES_KEPT + 1}`));
  t.true(onDisk <= (LOG_FILES_KEPT + 1) * LOG_FILE_MAX_BYTES);
});

test('rotateIfFull moves a full file aside and leaves a smaller one alone', (t) => {
  const path = tempLog(t);
  writeFileSync(path, 'small\n');
  rotateIfFull(path, { maxBytes: 100, keep: 3 });
  t.is(readFileSync(path, 'utf8'), 'small\n');
  writeFileSync(path, 'f'.repeat(100));
  rotateIfFull(path, { maxBytes: 100, keep: 3 });
  t.false(existsSync(path));
  t.is(readFileSync(`${path}.1`, 'utf8'), 'f'.repeat(100));
  t.notThrows(() => rotateIfFull(join(path, 'missing'), { maxBytes: 100, keep: 3 }));
});

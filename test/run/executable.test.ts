import test from 'ava';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable, inspectExecutable } from '../../src/run/executable.js';

test('a dynamically linked program is seen as dynamic', (t) => {
  t.is(inspectExecutable('sh').linking, 'dynamic');
  t.is(inspectExecutable(process.execPath).linking, 'dynamic');
});

test('busybox-static is seen as static', (t) => {
  const busybox = findExecutable('busybox');
  if (!busybox) return t.pass('busybox is not installed here');
  t.is(inspectExecutable(busybox).linking, 'static');
});

test('a script is judged by its interpreter, through env too', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-exec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const viaEnv = join(dir, 'via-env');
  writeFileSync(viaEnv, '#!/usr/bin/env -S sh -e\necho hi\n');
  const direct = join(dir, 'direct');
  writeFileSync(direct, '#!/bin/sh\necho hi\n');
  const notElf = join(dir, 'not-elf');
  writeFileSync(notElf, 'just text');
  for (const file of [viaEnv, direct, notElf]) chmodSync(file, 0o755);
  t.like(inspectExecutable(direct), { linking: 'dynamic', interpreter: '/bin/sh' });
  t.is(inspectExecutable(viaEnv).linking, 'dynamic');
  t.is(inspectExecutable(notElf).linking, 'unknown');
});

test('a missing program is unknown, not an error', (t) => {
  t.deepEqual(inspectExecutable('no-such-program-tp'), { linking: 'unknown' });
  t.is(findExecutable('sh', { PATH: '' }), undefined);
});

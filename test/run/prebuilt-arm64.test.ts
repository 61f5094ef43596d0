import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// The linux-arm64 native parts the npm package ships, loaded for real: an arm64 program made with
// Debian's cross compiler dlopen()s libtp.so under qemu-user with the arm64 C library, and the
// tp-peer-uid helper runs and answers (qemu does not pass netlink sock_diag on, so its answer is
// "cannot ask", which is how the daemon learns to fall back to /proc).
const PREBUILT = fileURLToPath(new URL('../../shims/prebuilt/linux-arm64/', import.meta.url));
const SYSROOT = '/usr/aarch64-linux-gnu';
const run = promisify(execFile);

const LOADER = `#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
  void *library = dlopen(argv[1], RTLD_NOW);
  if (!library) { printf("dlopen failed: %s\\n", dlerror()); return 1; }
  printf("loaded, connect %s\\n", dlsym(library, "connect") ? "found" : "missing");
  return 0;
}
`;

test('the prebuilt arm64 libtp.so loads in an arm64 process and exports connect', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tp-arm64-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'loader.c'), LOADER);
  await run('aarch64-linux-gnu-gcc', ['-o', path.join(dir, 'loader'), path.join(dir, 'loader.c')]);
  const { stdout } = await run('qemu-aarch64', ['-L', SYSROOT, path.join(dir, 'loader'), path.join(PREBUILT, 'libtp.so')]);
  t.is(stdout.trim(), 'loaded, connect found');
});

test('the prebuilt arm64 tp-peer-uid runs and answers each line', async (t) => {
  const child = run('qemu-aarch64', ['-L', SYSROOT, path.join(PREBUILT, 'tp-peer-uid')]);
  child.child.stdin!.end('7 tcp 127.0.0.1 1 127.0.0.1 2\n8 garbage\n');
  const { stdout } = await child;
  t.deepEqual(stdout.trim().split('\n'), ['7 ?', '8 ?']);
});

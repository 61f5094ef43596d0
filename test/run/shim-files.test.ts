// Which LD_PRELOAD library tp run picks: the prebuilt one for this machine when its architecture,
// C library and glibc version fit, else the one built at install time, else none, with the reason
// the prebuilt one did not fit.
import test from 'ava';
import { chooseLibrary, PRELOAD_LIBRARY, prebuiltLibrary, type Machine } from '../../src/run/shim-files.js';

const X64: Machine = { platform: 'linux', arch: 'x64', glibc: '2.36' };
const shipped = (glibcNeeded: string, local = false) => ({
  exists: (path: string) => path.includes('/shims/prebuilt/') || (local && path === PRELOAD_LIBRARY),
  read: (path: string) => (path.endsWith('/glibc-version') ? `${glibcNeeded}\n` : ''),
});

test('a glibc x64 or arm64 machine gets the prebuilt library of its architecture', (t) => {
  const { exists, read } = shipped('2.34', true);
  t.deepEqual(chooseLibrary(X64, exists, read), { path: prebuiltLibrary('linux-x64') });
  t.deepEqual(chooseLibrary({ ...X64, arch: 'arm64', glibc: '2.34' }, exists, read), { path: prebuiltLibrary('linux-arm64') });
});

test('a glibc older than the prebuilt library needs falls back to the library built at install, and says why', (t) => {
  const choice = chooseLibrary({ ...X64, glibc: '2.31' }, shipped('2.34', true).exists, shipped('2.34').read);
  t.is(choice.path, PRELOAD_LIBRARY);
  t.regex(choice.prebuiltMissing!, /needs glibc 2\.34 or newer, and this machine has 2\.31/);
  t.is(chooseLibrary({ ...X64, glibc: '2.4' }, shipped('2.34').exists, shipped('2.34').read).path, undefined);
  t.truthy(chooseLibrary({ ...X64, glibc: '2.100' }, shipped('2.34').exists, shipped('2.34').read).path);
});

test('musl, other architectures and other systems get no prebuilt library, with the reason', (t) => {
  const { exists, read } = shipped('2.34');
  t.deepEqual(chooseLibrary({ ...X64, glibc: undefined }, exists, read), { path: undefined, prebuiltMissing: 'the prebuilt linux-x64 library needs glibc, and this machine\'s C library is another one' });
  t.regex(chooseLibrary({ ...X64, arch: 'riscv64' }, exists, read).prebuiltMissing!, /linux-x64 and linux-arm64 \(glibc\) only, not linux-riscv64/);
  t.regex(chooseLibrary({ ...X64, platform: 'darwin', arch: 'arm64' }, exists, read).prebuiltMissing!, /not darwin-arm64/);
});

test('a checkout without prebuilt libraries uses its own build', (t) => {
  const choice = chooseLibrary(X64, (path) => path === PRELOAD_LIBRARY, () => '');
  t.is(choice.path, PRELOAD_LIBRARY);
  t.regex(choice.prebuiltMissing!, /no prebuilt linux-x64 library/);
});

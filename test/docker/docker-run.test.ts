// --docker-run's handler gets the copy of the pod's files: the copy the daemon in the container made
// (TP_ROOT, under the container's /tp) is found in the connection's folder on the host and mounted
// at TP_ROOT and at each mount's path in the pod, read-only unless --mount-rw.
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyVolumes } from '../../src/docker/docker-run.js';
import { MOUNTS_MANIFEST } from '../../src/volumes/copy.js';

test('the copy is mounted at TP_ROOT and at each pod path, from the connection folder', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-docker-run-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const copy = join(dir, 'state', 'tp', 'mounts', 'web');
  mkdirSync(copy, { recursive: true });
  writeFileSync(join(copy, MOUNTS_MANIFEST), JSON.stringify(['/etc/app', '/var/run/secrets/kubernetes.io/serviceaccount', 'relative/ignored']));
  const environment = { TP_ROOT: '/tp/state/tp/mounts/web', OTHER: 'x' };
  t.deepEqual(copyVolumes(dir, environment, false), [
    '-v', `${copy}:/tp/state/tp/mounts/web:ro`,
    '-v', `${copy}/etc/app:/etc/app:ro`,
    '-v', `${copy}/var/run/secrets/kubernetes.io/serviceaccount:/var/run/secrets/kubernetes.io/serviceaccount:ro`,
  ]);
  t.true(copyVolumes(dir, environment, true).every((arg) => arg === '-v' || arg.endsWith(':rw')));
  t.deepEqual(copyVolumes(dir, { OTHER: 'x' }, false), [], 'no copy, no volumes');
});

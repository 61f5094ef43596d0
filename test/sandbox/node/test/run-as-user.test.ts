// The user a container runs as: the securityContext's runAsUser/runAsGroup (container over pod),
// the kubelet's runAsNonRoot refusal with its real message, and the setpriv prefix actually
// running a process as that user (when the tests run as root, as the sandbox does).
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { V1Container, V1Pod, V1PodSecurityContext } from '@kubernetes/client-node';
import { runAsOf, runAsPrefix } from '../run-as-user.js';
import { ContainerConfigError } from '../pod-env.js';

const run = promisify(execFile);

function pod(podContext: V1PodSecurityContext | undefined, container: Partial<V1Container> = {}): [V1Pod, V1Container] {
  const c: V1Container = { name: 'app', image: 'tp/echo-server', ...container };
  return [{ metadata: { name: 'web-1', namespace: 'shop', uid: 'u-1' }, spec: { securityContext: podContext, containers: [c] } }, c];
}

test('the container\'s user wins over the pod\'s; groups come from supplementalGroups and fsGroup', (t) => {
  t.deepEqual(runAsOf(...pod({ runAsUser: 1000, runAsGroup: 2000, supplementalGroups: [5], fsGroup: 6 }, { securityContext: { runAsUser: 1001 } })), { uid: 1001, gid: 2000, groups: [5, 6] });
  t.deepEqual(runAsOf(...pod(undefined)), { uid: 0, gid: 0, groups: [] });
  t.deepEqual(runAsPrefix({ uid: 0, gid: 0, groups: [] }), []);
});

test('runAsNonRoot without a non-zero runAsUser is refused with the kubelet\'s messages', (t) => {
  const implicit = t.throws(() => runAsOf(...pod({ runAsNonRoot: true })), { instanceOf: ContainerConfigError });
  t.is(implicit?.message, 'container has runAsNonRoot and image will run as root (pod: "web-1_shop(u-1)", container: app)');
  const explicit = t.throws(() => runAsOf(...pod(undefined, { securityContext: { runAsNonRoot: true, runAsUser: 0 } })), { instanceOf: ContainerConfigError });
  t.is(explicit?.message, 'container\'s runAsUser breaks non-root policy (pod: "web-1_shop(u-1)", container: app)');
  t.is(runAsOf(...pod({ runAsNonRoot: true }, { securityContext: { runAsUser: 65532 } })).uid, 65532);
});

test('the prefix runs the program as that user and group', async (t) => {
  if (process.getuid?.() !== 0) {
    t.log('not root: setpriv cannot change users here; checked by the e2e suite');
    t.deepEqual(runAsPrefix({ uid: 1000, gid: 1000, groups: [] }), ['setpriv', '--reuid=1000', '--regid=1000', '--clear-groups', '--']);
    return;
  }
  const [program, ...args] = [...runAsPrefix({ uid: 65532, gid: 65533, groups: [7] }), 'id'];
  const { stdout } = await run(program, args);
  t.regex(stdout, /^uid=65532 gid=65533 groups=65533,7\b/);
});

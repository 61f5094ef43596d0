import test from 'ava';
import { AppsV1Api, CoreV1Api, type V1Deployment } from '@kubernetes/client-node';
import ManagerInstall from '../../src/commands/manager/install.js';
import { TpError } from '../../src/errors.js';
import { installManager } from '../../src/install/install.js';
import { managerManifests, VERSION_ANNOTATION } from '../../src/install/manifests.js';
import { startTestCluster } from '../sandbox/apiserver/test/helpers.js';

test('a manager of another version in a non-default namespace gets a hint whose flags tp manager install takes', async (t) => {
  const cluster = await startTestCluster();
  t.teardown(() => cluster.close());
  const kc = cluster.kubeConfig();
  // The manager an older tp installed there (this API server runs no controllers, so only the object).
  const deployment = managerManifests({ namespace: 'team-tp' }).find((o) => o.kind === 'Deployment') as V1Deployment;
  deployment.metadata!.annotations = { ...deployment.metadata!.annotations, [VERSION_ANNOTATION]: '0.0.1-old' };
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'team-tp' } } });
  await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({ namespace: 'team-tp', body: deployment });

  const error = await t.throwsAsync(installManager(kc, { namespace: 'team-tp' }), { instanceOf: TpError, code: 'TP_ERR_MANAGER_VERSION' });
  const command = /`tp manager install (.*)`/.exec(error?.hints[0] ?? '')?.[1];
  t.is(command, '--upgrade --manager-namespace team-tp');
  const flags = [...(command ?? '').matchAll(/--([a-z-]+)/g)].map((m) => m[1]);
  for (const flag of flags) t.true(flag in ManagerInstall.flags, `tp manager install has no --${flag}`);
});

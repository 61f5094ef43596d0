// The image a user names is the one that runs: `tp manager install --image REF` (over $TP_IMAGE)
// puts REF in the manager's Deployment, its pod runs it and becomes ready, and the manager is told
// to inject its agents with the same REF.
import test from 'ava';
import { appsApi, coreApi } from './helpers/cluster.js';
import { image } from './helpers/images.js';
import { newLaptop, type Laptop } from './helpers/laptop.js';

const MANAGER_NAMESPACE = 'tp-img-mgr';
let laptop: Laptop;

test.before(() => {
  laptop = newLaptop('img');
});

test.after.always(async () => {
  await laptop?.tp(['manager', 'uninstall', '--manager-namespace', MANAGER_NAMESPACE], { timeoutMs: 120_000 }).catch(() => undefined);
  await laptop?.cleanup();
  await coreApi().deleteNamespace({ name: MANAGER_NAMESPACE }).catch(() => undefined);
});

test.serial('--image wins over $TP_IMAGE and reaches the Deployment, its running pod and the agents\' image setting', async (t) => {
  const wanted = image('TP');
  const { stdout } = await laptop.tp(['manager', 'install', '--manager-namespace', MANAGER_NAMESPACE, '--image', wanted, '--output', 'json'], {
    timeoutMs: 150_000,
    env: { TP_IMAGE: 'registry.invalid/not/this:0' },
  });
  t.is((JSON.parse(stdout) as { image: string }).image, wanted);

  const deployment = await appsApi().readNamespacedDeployment({ name: 'traffic-manager', namespace: MANAGER_NAMESPACE });
  const container = deployment.spec!.template.spec!.containers[0];
  t.is(container.image, wanted);
  t.is(container.env?.find((e) => e.name === 'TP_MANAGER_IMAGE')?.value, wanted);

  const pods = await coreApi().listNamespacedPod({ namespace: MANAGER_NAMESPACE, labelSelector: Object.entries(deployment.spec!.selector.matchLabels!).map(([k, v]) => `${k}=${v}`).join(',') });
  const ready = pods.items.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  t.true(ready.length > 0, 'install returned with no ready manager pod');
  for (const pod of ready) t.is(pod.spec!.containers[0].image, wanted);
});

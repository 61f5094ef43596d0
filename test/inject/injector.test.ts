import test from 'ava';
import type { V1Pod } from '@kubernetes/client-node';
import { rolloutProgress } from '../../src/inject/injector.js';

const terminatingPod = (grace: number): V1Pod => ({ metadata: { name: 'web-old', deletionTimestamp: new Date(), deletionGracePeriodSeconds: grace } });

test('the rollout progress line counts one old pod in the singular and more in the plural', (t) => {
  const label = 'with the traffic-agent';
  t.is(rolloutProgress('Deployment/web', 1, 2, label, 1, []), 'Deployment/web: 1 of 2 pods ready with the traffic-agent, 1 old pod still running');
  t.is(rolloutProgress('Deployment/web', 0, 2, label, 2, []), 'Deployment/web: 0 of 2 pods ready with the traffic-agent, 2 old pods still running');
  t.is(rolloutProgress('Deployment/web', 2, 2, label, 0, [terminatingPod(30)]), 'Deployment/web: 2 of 2 pods ready with the traffic-agent, 1 old pod terminating (grace period 30 s)');
  t.is(rolloutProgress('Deployment/web', 2, 2, label, 0, [terminatingPod(30), terminatingPod(5)]), 'Deployment/web: 2 of 2 pods ready with the traffic-agent, 2 old pods terminating (grace period 30 s)');
});

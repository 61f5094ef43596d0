import test from 'ava';
import { nextNewReplicas, oldScaleDownBudget, resolveIntOrPercent, surgeAndUnavailable } from '../rollout-math.js';

test('percentages round surge up and unavailability down', (t) => {
  t.deepEqual(surgeAndUnavailable(10), { surge: 3, unavailable: 2 });
  t.deepEqual(surgeAndUnavailable(2), { surge: 1, unavailable: 0 });
  t.deepEqual(surgeAndUnavailable(4, 1, 0), { surge: 1, unavailable: 0 });
});

test('zero surge and zero unavailability still lets one pod go', (t) => {
  t.deepEqual(surgeAndUnavailable(3, 0, 0), { surge: 0, unavailable: 1 });
});

test('a malformed percentage is an error, not a number', (t) => {
  t.throws(() => resolveIntOrPercent('half', '25%', 4, true), { message: /invalid value/ });
  t.is(resolveIntOrPercent('3', '25%', 4, true), 3);
});

test('the new ReplicaSet grows only into the surge room', (t) => {
  // 3 wanted, surge 1: 3 old pods leave room for one new one.
  t.is(nextNewReplicas(3, 1, { replicas: 0, available: 0 }, [{ replicas: 3, available: 3 }]), 1);
  // Room used up: stays.
  t.is(nextNewReplicas(3, 1, { replicas: 1, available: 0 }, [{ replicas: 3, available: 3 }]), 1);
  // Never past desired.
  t.is(nextNewReplicas(3, 5, { replicas: 2, available: 2 }, [{ replicas: 1, available: 1 }]), 3);
  // Scale-down of the new ReplicaSet when desired shrank.
  t.is(nextNewReplicas(2, 1, { replicas: 3, available: 3 }, []), 2);
});

test('old pods go only when enough pods stay available', (t) => {
  // maxUnavailable 0: the new pod is not available yet, so no old pod may go.
  t.deepEqual(oldScaleDownBudget(3, 0, { replicas: 1, available: 0 }, [{ replicas: 3, available: 3 }]), { unhealthy: 0, healthy: 0 });
  // Once it is available, exactly one old pod may go.
  t.deepEqual(oldScaleDownBudget(3, 0, { replicas: 1, available: 1 }, [{ replicas: 3, available: 3 }]), { unhealthy: 0, healthy: 1 });
  // Unavailable old pods may go first without touching availability.
  t.deepEqual(oldScaleDownBudget(3, 1, { replicas: 1, available: 0 }, [{ replicas: 3, available: 2 }]), { unhealthy: 1, healthy: 0 });
});

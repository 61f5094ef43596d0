import test from 'ava';
import { Deadlines, type Deadline } from '../../src/tunnel/deadlines.js';
import { until } from './helpers.js';

test('deadlines fire no earlier than asked, in order, and a removed one never fires', async (t) => {
  const deadlines = new Deadlines();
  t.teardown(() => deadlines.clear());
  const fired: Array<{ name: string; afterMs: number }> = [];
  const start = performance.now();
  const note = (name: string) => () => fired.push({ name, afterMs: performance.now() - start });
  deadlines.add(120, note('late'));
  const removed = deadlines.add(40, note('removed'));
  deadlines.add(60, note('early'));
  deadlines.remove(removed);
  await until(() => fired.length === 2);
  t.deepEqual(
    fired.map((entry) => entry.name),
    ['early', 'late'],
  );
  t.true(fired[0].afterMs >= 60, `early fired after ${fired[0].afterMs} ms`);
  t.true(fired[1].afterMs >= 120, `late fired after ${fired[1].afterMs} ms`);
});

test('a deadline added while a later one is armed still fires on time; clear() forgets all', async (t) => {
  const deadlines = new Deadlines();
  const fired: string[] = [];
  deadlines.add(60_000, () => fired.push('minute'));
  deadlines.add(30, () => fired.push('soon'));
  await until(() => fired.length > 0);
  t.deepEqual(fired, ['soon']);
  deadlines.add(30, () => fired.push('cleared'));
  deadlines.clear();
  deadlines.add(60, () => fired.push('after clear'));
  await until(() => fired.length === 2);
  t.deepEqual(fired, ['soon', 'after clear']);
});

test('a due deadline removed by one that expires before it in the same firing does not fire', async (t) => {
  const deadlines = new Deadlines();
  t.teardown(() => deadlines.clear());
  const fired: string[] = [];
  const later: { removed?: Deadline } = {};
  deadlines.add(5, () => {
    fired.push('first');
    if (later.removed) deadlines.remove(later.removed);
  });
  later.removed = deadlines.add(6, () => fired.push('removed'));
  deadlines.add(7, () => fired.push('third'));
  // Hold the event loop past all three, so one firing of the timer finds them all due.
  const until30 = performance.now() + 30;
  while (performance.now() < until30);
  await until(() => fired.length >= 2);
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.deepEqual(fired, ['first', 'third']);
});

test('deadlines that a late timer finds due together expire in the order asked, not the order added', async (t) => {
  const deadlines = new Deadlines();
  t.teardown(() => deadlines.clear());
  const fired: string[] = [];
  deadlines.add(20, () => fired.push('later'));
  deadlines.add(5, () => fired.push('sooner'));
  // A busy event loop (a loaded machine) holds the timer past both.
  const until40 = performance.now() + 40;
  while (performance.now() < until40);
  await until(() => fired.length === 2);
  t.deepEqual(fired, ['sooner', 'later']);
});

import test from 'ava';
import { AnswerCache, type ClusterAnswer } from '../../src/dns/answer-cache.js';

const positive: ClusterAnswer = { rcode: 0, answers: [{ type: 'A', name: 'web', ttl: 20, address: '10.0.0.1' }, { type: 'A', name: 'web', ttl: 10, address: '10.0.0.2' }] };

function clock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_000_000;
  return { now: () => time, advance: (ms) => (time += ms) };
}

test('a positive answer lives for its shortest TTL, with TTLs counting down', async (t) => {
  const time = clock();
  const cache = new AnswerCache({ now: time.now });
  let lookups = 0;
  const lookup = async (): Promise<ClusterAnswer> => {
    lookups += 1;
    return positive;
  };
  await cache.get('web', 'A', lookup);
  time.advance(4_000);
  const hit = await cache.get('WEB', 'A', lookup);
  t.true(hit.cached);
  t.deepEqual(hit.answer.answers.map((r) => r.ttl), [16, 6]);
  time.advance(6_001);
  t.false((await cache.get('web', 'A', lookup)).cached);
  t.is(lookups, 2);
});

test('TTLs are capped by maxTtlSeconds and negative answers kept for negativeTtlSeconds', async (t) => {
  const time = clock();
  const cache = new AnswerCache({ now: time.now, maxTtlSeconds: 5, negativeTtlSeconds: 2 });
  let lookups = 0;
  const negative = async (): Promise<ClusterAnswer> => {
    lookups += 1;
    return { rcode: 3, answers: [] };
  };
  await cache.get('gone', 'A', negative);
  time.advance(1_900);
  t.true((await cache.get('gone', 'A', negative)).cached);
  time.advance(200);
  t.false((await cache.get('gone', 'A', negative)).cached);
  t.is(lookups, 2);
  await cache.get('web', 'A', async () => positive);
  time.advance(5_001);
  t.false((await cache.get('web', 'A', async () => positive)).cached);
});

test('concurrent questions share one lookup, and a failed lookup is not cached', async (t) => {
  const cache = new AnswerCache();
  let lookups = 0;
  let release!: (answer: ClusterAnswer) => void;
  const slow = (): Promise<ClusterAnswer> => {
    lookups += 1;
    return new Promise((resolve) => (release = resolve));
  };
  const both = Promise.all([cache.get('web', 'A', slow), cache.get('web', 'A', slow)]);
  release(positive);
  const [first, second] = await both;
  t.is(lookups, 1);
  t.false(first.cached);
  t.true(second.cached);
  await t.throwsAsync(cache.get('bad', 'A', async () => Promise.reject(new Error('tunnel down'))), { message: 'tunnel down' });
  t.false((await cache.get('bad', 'A', async () => positive)).cached);
});

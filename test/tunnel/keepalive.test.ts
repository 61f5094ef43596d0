// Keepalive's round-trip bookkeeping: the smallest round trip is what stream windows are sized
// for (session.ts pathRttMs), so a ping sent while another is outstanding must not restart the
// clock (pongs carry no id: the first pong would otherwise look faster than the path).
import test from 'ava';
import { Keepalive } from '../../src/tunnel/keepalive.js';

function keepalive(): { keepalive: Keepalive; pings: () => number } {
  let pings = 0;
  const k = new Keepalive({ pingIntervalMs: 0, deadPeerTimeoutMs: 0, sendPing: () => pings++, onDead: () => undefined });
  return { keepalive: k, pings: () => pings };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a ping while one is outstanding sends nothing and keeps the first ping time', async (t) => {
  const { keepalive: k, pings } = keepalive();
  k.ping();
  await wait(30);
  k.ping();
  t.is(pings(), 1);
  const rtt = k.pong();
  t.true(rtt !== undefined && rtt >= 25, `rtt ${rtt} counts from the first ping`);
  t.is(k.pong(), undefined, 'a second pong answers nothing');
});

test('minRttMs is the smallest round trip measured, rttMs the latest', async (t) => {
  const { keepalive: k } = keepalive();
  t.is(k.minRttMs, undefined);
  k.ping();
  await wait(30);
  const slow = k.pong()!;
  k.ping();
  const fast = k.pong()!;
  t.true(fast < slow);
  t.is(k.minRttMs, fast);
  k.ping();
  await wait(30);
  const again = k.pong()!;
  t.is(k.rttMs, again);
  t.is(k.minRttMs, fast);
});

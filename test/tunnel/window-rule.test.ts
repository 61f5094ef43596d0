// The receive-window rule (stream.ts grantCredit) and what it reads from traffic-meter.ts:
// startup growth with consumption, its end when the rate stops growing, and which other streams'
// traffic counts as interactive. The stream is driven through its StreamHost seam with the path's
// round trip pinned, so the rule's steps are counted in bytes and round trips, not in time.
import test from 'ava';
import { Interactive, type Mover } from '../../src/tunnel/traffic-meter.js';
import { SHARED_MIN_WINDOW, TunnelStream, type StreamHost } from '../../src/tunnel/stream.js';
import { WindowBudget } from '../../src/tunnel/window-budget.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const INITIAL = 64 * KiB;

/** A stream whose host grants from a real WindowBudget and adds up the credit sent to the peer; `shared()`: another stream's interactive traffic moves nearby. */
function receiver(rttMs: number, shared = () => false): { stream: TunnelStream; credit: () => number; budget: WindowBudget } {
  const budget = new WindowBudget(64 * MiB);
  let credit = budget.reserveInitial(INITIAL);
  const host: StreamHost = {
    label: 'test',
    maxDataFrame: 16 * KiB,
    maxWindow: 16 * MiB,
    sendData: () => undefined,
    sendWindowUpdate: (_id, increment) => (credit += increment),
    sendFin: () => undefined,
    sendReset: () => undefined,
    writable: () => true,
    reserveWindow: (bytes) => budget.reserveGrowth(bytes),
    releaseWindow: (bytes) => budget.release(bytes),
    pathRttMs: () => rttMs,
    interactiveMoved: () => undefined,
    interactiveNearby: shared,
    streamClosed: () => undefined,
  };
  const stream = new TunnelStream(host, { id: 2, host: 'h', port: 1, metadata: {}, direction: 'incoming' }, INITIAL, credit);
  stream.on('data', () => undefined);
  return { stream, credit: () => credit, budget };
}

/** One round trip of a sender that sends all the credit it has: what the receiver granted up to the last round arrives now. */
function sendRound(stream: TunnelStream, sent: number, credit: number, cap = Infinity): number {
  const bytes = Math.min(credit - sent, cap);
  for (let offset = 0; offset < bytes; offset += 16 * KiB) stream.handleData(Buffer.alloc(Math.min(16 * KiB, bytes - offset)));
  return bytes;
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

test('in startup a window-limited stream nearly doubles what it may receive every round trip, before any rate is measured', async (t) => {
  // A 10 s round trip: no rate measurement can happen during this test, so only startup can grow the window.
  const { stream, credit } = receiver(10_000);
  await nextTurn(); // flowing mode: each chunk goes to the reader as it arrives
  t.false(stream.transferring);
  const rounds: number[] = [];
  let sent = 0;
  for (let round = 0; round < 6; round++) {
    const granted = credit();
    const bytes = sendRound(stream, sent, granted);
    sent += bytes;
    rounds.push(bytes);
  }
  const carried = `round trips carried ${rounds.join(', ')} bytes`;
  t.is(rounds[0], INITIAL);
  for (let i = 1; i < rounds.length; i++) t.true(rounds[i]! >= 1.5 * rounds[i - 1]!, carried);
  // Nearly doubling: 16 times the first round trip's bytes by the sixth (at 1.5 times, 7.6).
  t.true(rounds[5]! >= 16 * rounds[0]!, carried);
  t.true(stream.receiveWindow >= 1 * MiB, `window ${stream.receiveWindow}`);
  t.true(stream.transferring, 'its earlier interactive notes no longer count');
  stream.destroy();
});

test('startup ends once the rate stops growing: a sender-limited stream keeps a window near its need', async (t) => {
  // The sender manages 64 KiB per 10 ms round trip however much credit it has.
  const { stream, credit } = receiver(10);
  await nextTurn();
  let sent = 0;
  for (let round = 0; round < 30; round++) {
    sent += sendRound(stream, sent, credit(), 64 * KiB);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // Had startup gone on, the window would have grown by every round's 64 KiB: past 1.9 MiB by now.
  t.true(stream.receiveWindow <= 1 * MiB, `window ${stream.receiveWindow}`);
  t.true(stream.receiveWindow > INITIAL, 'startup grew it at first');
  stream.destroy();
});

test("startup's end drains the window it overshot to about twice the best rate over the round trip", async (t) => {
  // 128 KiB per 10 ms round trip: 2 × rate × RTT is 256 KiB; startup grows the window past that before it judges the rate flat.
  const { stream, credit } = receiver(10);
  await nextTurn();
  let sent = 0;
  let largest = 0;
  for (let round = 0; round < 30; round++) {
    sent += sendRound(stream, sent, credit(), 128 * KiB);
    largest = Math.max(largest, stream.receiveWindow);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.true(largest > 448 * KiB, `startup's largest window ${largest}`);
  // Not to 256 KiB exactly: a measurement that caught two rounds' bytes raises the best rate.
  t.true(stream.receiveWindow < largest, `window ${stream.receiveWindow} after startup's ${largest}`);
  t.true(stream.receiveWindow >= SHARED_MIN_WINDOW, `window ${stream.receiveWindow}`);
  stream.destroy();
});

test("when interactive traffic starts nearby, a bulk stream's window goes down at once to twice its rate over the round trip", async (t) => {
  // Six round trips with all the credit it gets (startup: the window grows to megabytes), then
  // requests nearby and 192 KiB per 10 ms round trip: 2 × rate × RTT is 384 KiB. Halving only while
  // the window is over twice that (the rule before) stops at 512 KiB.
  let shared = false;
  const { stream, credit } = receiver(10, () => shared);
  await nextTurn();
  let sent = 0;
  for (let round = 0; round < 6; round++) {
    sent += sendRound(stream, sent, credit());
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const grown = stream.receiveWindow;
  t.true(grown >= 2 * MiB, `startup grew the window to ${grown}`);
  shared = true;
  for (let round = 0; round < 20; round++) {
    sent += sendRound(stream, sent, credit(), 192 * KiB);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // A slower round (a loaded machine) only lowers the rate, and so the window.
  t.true(stream.receiveWindow <= 480 * KiB, `window ${stream.receiveWindow} after ${grown}`);
  t.true(stream.receiveWindow >= SHARED_MIN_WINDOW, `window ${stream.receiveWindow}`);
  stream.destroy();
});

test('a shrink keeps the budget for the credit the peer still holds until that credit is used', async (t) => {
  let shared = false;
  const { stream, credit, budget } = receiver(10, () => shared);
  await nextTurn();
  let sent = 0;
  for (let round = 0; round < 12; round++) {
    sent += sendRound(stream, sent, credit());
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const grown = stream.receiveWindow;
  t.true(grown >= 2 * MiB, `startup grew the window to ${grown}`);
  // A pause, then half the credit arrives while requests move nearby: a low rate, so the window shrinks.
  await new Promise((resolve) => setTimeout(resolve, 200));
  shared = true;
  sent += sendRound(stream, sent, credit(), Math.floor((credit() - sent) / 2));
  t.true(stream.receiveWindow < grown / 2, `window ${stream.receiveWindow} after ${grown}`);
  const held = budget.total - budget.remaining;
  t.true(held >= credit() - sent, `budget held ${held} while the peer may still send ${credit() - sent}`);
  // Once the peer has used that credit, what it held beyond the window goes back.
  sent += sendRound(stream, sent, credit());
  sent += sendRound(stream, sent, credit());
  t.is(budget.total - budget.remaining, stream.receiveWindow, `budget held ${budget.total - budget.remaining}`);
  stream.destroy();
  t.is(budget.remaining, budget.total);
});

test('a growing window stops at twice its rate over the round trip instead of doubling past it', async (t) => {
  // Interactive traffic nearby (so startup waits) and 384 KiB per 10 ms round trip: 2 × rate × RTT
  // is 768 KiB; doubling from 512 KiB would reach 1 MiB, a quarter of a megabyte more in the queues.
  const { stream, credit } = receiver(10, () => true);
  await nextTurn();
  let sent = 0;
  for (let round = 0; round < 30; round++) {
    sent += sendRound(stream, sent, credit(), 384 * KiB);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // A slower round (a loaded machine) only lowers the rate, and so the window.
  t.true(stream.receiveWindow < 0.95 * MiB, `window ${stream.receiveWindow}`);
  t.true(stream.receiveWindow > 256 * KiB, `window ${stream.receiveWindow}: it still grows toward what the sender sends per round trip`);
  stream.destroy();
});

const mover = (): Mover & { transferring: boolean } => ({ transferring: false });

test("another stream's interactive traffic counts until that stream has grown into a transfer", (t) => {
  const interactive = new Interactive(60_000);
  const [download, starting, request] = [mover(), mover(), mover()];
  interactive.note(starting);
  t.true(interactive.nearby(download), 'a stream moving little, lately');
  t.false(interactive.nearby(starting), "a stream's own traffic never counts");
  starting.transferring = true; // its first bytes were the start of a download
  t.false(interactive.nearby(download), 'downloads starting together do not hold each other back');
  interactive.note(request);
  interactive.note(starting);
  t.true(interactive.nearby(download), 'a request still counts behind a newer note by a transfer');
  request.transferring = true;
  t.false(interactive.nearby(download));
});

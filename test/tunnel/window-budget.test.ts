import test from 'ava';
import { Defaults } from '../../src/tunnel/protocol.js';
import type { TunnelStream } from '../../src/tunnel/stream.js';
import { WindowBudget } from '../../src/tunnel/window-budget.js';
import { memorySessions, readAll } from './helpers.js';

test('a new stream gets the initial window while the budget lasts, then the floor', (t) => {
  const budget = new WindowBudget(3 * Defaults.INITIAL_WINDOW);
  const windows = Array.from({ length: 5 }, () => budget.reserveInitial(Defaults.INITIAL_WINDOW));
  t.deepEqual(windows, [Defaults.INITIAL_WINDOW, Defaults.INITIAL_WINDOW, Defaults.INITIAL_WINDOW, Defaults.MIN_WINDOW, Defaults.MIN_WINDOW]);
  t.is(budget.reserveGrowth(1024), 0, 'no growth from a spent budget');
  budget.release(Defaults.INITIAL_WINDOW + Defaults.MIN_WINDOW * 2);
  t.is(budget.reserveInitial(Defaults.INITIAL_WINDOW), Defaults.INITIAL_WINDOW);
});

test('the windows a session grants stay within its buffer budget plus a floor per stream, however many streams open', async (t) => {
  const budget = 4 * Defaults.INITIAL_WINDOW;
  const { client, server } = memorySessions({ maxSessionBuffer: budget });
  t.teardown(() => client.destroy());
  const accepted: TunnelStream[] = [];
  server.on('stream', (open) => {
    const stream = open.accept();
    stream.on('error', () => {});
    stream.pipe(stream);
    accepted.push(stream);
  });
  const opened = await Promise.all(Array.from({ length: 10 }, (_, i) => client.open({ host: 'h', port: i + 1 })));
  for (const stream of opened) stream.on('error', () => {});
  const granted = (streams: TunnelStream[]) => streams.reduce((sum, stream) => sum + stream.receiveWindow, 0);
  t.is(accepted.length, 10);
  t.true(granted(opened) <= budget + 10 * Defaults.MIN_WINDOW, `client granted ${granted(opened)}`);
  t.true(granted(accepted) <= budget + 10 * Defaults.MIN_WINDOW, `server granted ${granted(accepted)}`);
  t.is(opened.filter((stream) => stream.receiveWindow === Defaults.INITIAL_WINDOW).length, 4);
  // Every stream, floor or not, carries data both ways.
  const more = await client.open({ host: 'h', port: 99 });
  const received = readAll(more);
  more.end(Buffer.alloc(256 * 1024, 7));
  t.is((await received).length, 256 * 1024);
});

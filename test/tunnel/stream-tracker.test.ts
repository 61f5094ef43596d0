import test from 'ava';
import { StreamTracker } from '../../src/tunnel/stream-tracker.js';

test('the tracker flags DATA after a stream ended, and forgets the oldest of more than 4096 closed streams first', (t) => {
  const tracker = new StreamTracker('server');
  // The peer (a client) opens odd ids; 5000 streams open and end in order.
  for (let id = 1; id <= 9999; id += 2) {
    tracker.peerOpened(id);
    tracker.closed(id, true);
  }
  t.throws(() => tracker.checkLateFrame(9999, 'data'), { message: /after it was ended/ });
  t.throws(() => tracker.checkLateFrame(9999 - 2 * 4095, 'fin'), { message: /after it was ended/ }, 'the 4096th newest is still remembered');
  t.notThrows(() => tracker.checkLateFrame(9999 - 2 * 4096, 'data'), 'the 4097th newest is forgotten: a late frame is ignored');
  t.notThrows(() => tracker.checkLateFrame(1, 'data'));
  t.throws(() => tracker.checkLateFrame(10_001, 'data'), { message: /never opened/ });
  // Closing an id twice keeps one entry, so it does not push out another.
  tracker.closed(9999, true);
  t.throws(() => tracker.checkLateFrame(9999 - 2 * 4095, 'data'), { message: /after it was ended/ });
});

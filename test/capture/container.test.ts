// The capture component in a container's network: the same rules as --netns, with the daemon's
// group left alone (it dials out from the namespace it captures).
import test from 'ava';
import { containerRules } from '../../src/capture/container.js';
import { captureRules } from '../../src/capture/namespace.js';

test('the container\'s rules exempt the daemon\'s group after loopback and before the catch-all', (t) => {
  const rules = containerRules(2_000_065_532);
  const exempt = rules.indexOf('meta skgid 2000065532 return');
  t.true(exempt > rules.indexOf('ip daddr 127.0.0.0/8 return'));
  t.true(exempt < rules.indexOf('meta l4proto tcp redirect to :15001'));
  // DNS to the resolver is captured for every group, the daemon's own lookups included.
  t.true(rules.indexOf('udp dport 53 redirect to :15053') < exempt);
  t.false(captureRules().includes('skgid'));
});

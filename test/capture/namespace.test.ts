// The capture component's pure parts: the rules inside the namespace, its resolv.conf, and the
// refusals the kernel's knobs already explain.
import test from 'ava';
import { captureRules, namespaceResolvConf } from '../../src/capture/namespace.js';
import { kernelRefusal } from '../../src/capture/support.js';

test('the rules send DNS to the relay\'s DNS port and every other TCP leaving loopback to its TCP port', (t) => {
  const rules = captureRules({ tcpPort: 1001, dnsPort: 1053, resolver: '127.0.0.53' });
  t.regex(rules, /type nat hook output priority -100/);
  t.regex(rules, /ip daddr 127\.0\.0\.53 udp dport 53 redirect to :1053/);
  t.regex(rules, /ip daddr 127\.0\.0\.53 tcp dport 53 redirect to :1001/);
  // Loopback stays the namespace's own, and comes before the catch-all.
  t.true(rules.indexOf('ip daddr 127.0.0.0/8 return') < rules.indexOf('meta l4proto tcp redirect to :1001'));
});

test('a --host-port\'s loopback ports go to the relay too, before loopback is left alone', (t) => {
  const rules = captureRules({ hostPorts: [5432, 6379], tcpPort: 1001, dnsPort: 1053, resolver: '127.0.0.53' });
  t.regex(rules, /ip daddr 127\.0\.0\.1 tcp dport \{ 5432, 6379 \} redirect to :1001/);
  t.true(rules.indexOf('tcp dport { 5432, 6379 }') < rules.indexOf('ip daddr 127.0.0.0/8 return'));
  t.false(captureRules({ tcpPort: 1001, dnsPort: 1053, resolver: '127.0.0.53' }).includes('127.0.0.1 tcp dport'));
});

test('the namespace\'s resolv.conf names its resolver and keeps the host\'s search and options', (t) => {
  const host = '# comment\nnameserver 10.0.0.2\nsearch corp.example\noptions ndots:2\nnameserver 10.0.0.3\n';
  t.is(namespaceResolvConf(host, '127.0.0.53'), 'nameserver 127.0.0.53\nsearch corp.example\noptions ndots:2\n');
});

test('each kernel knob that forbids the namespace has its own refusal, and a permissive kernel has none', (t) => {
  const knobs = (values: Record<string, number>) => (name: string) => values[name];
  t.is(kernelRefusal(knobs({ 'kernel.unprivileged_userns_clone': 0 }))?.code, 'TP_ERR_NETNS_USERNS_DISABLED');
  t.is(kernelRefusal(knobs({ 'user.max_user_namespaces': 0 }))?.code, 'TP_ERR_NETNS_USERNS_DISABLED');
  const apparmor = kernelRefusal(knobs({ 'kernel.apparmor_restrict_unprivileged_userns': 1 }));
  t.is(apparmor?.code, 'TP_ERR_NETNS_APPARMOR');
  t.true(apparmor!.hints.some((hint) => hint.includes('without --netns')));
  t.is(kernelRefusal(knobs({ 'kernel.unprivileged_userns_clone': 1, 'user.max_user_namespaces': 1000, 'kernel.apparmor_restrict_unprivileged_userns': 0 })), undefined);
});

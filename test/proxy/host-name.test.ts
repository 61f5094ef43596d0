import test from 'ava';
import fc from 'fast-check';
import { isIPv4, isIPv6 } from 'node:net';
import { checkHost, MAX_HOST_NAME_BYTES, MAX_LABEL_BYTES } from '../../src/proxy/host-name.js';

const LABEL_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_';

/** A label by RFC 1123 (plus underscores): no hyphen at either end. */
const label = (maxLength = MAX_LABEL_BYTES): fc.Arbitrary<string> =>
  fc
    .string({ unit: fc.constantFrom(...LABEL_CHARS), minLength: 1, maxLength })
    .filter((text) => !text.startsWith('-') && !text.endsWith('-'));
/** A label that is not a number, for the last place. */
const topLabel = label().filter((text) => !/^(?:\d+|0x[0-9a-f]*)$/i.test(text));
const hostName = fc
  .tuple(fc.array(label(), { maxLength: 6 }), topLabel, fc.boolean())
  .map(([labels, top, dot]) => [...labels, top].join('.') + (dot ? '.' : ''));

test('host names, SRV-style names, IPv4 and IPv6 literals are accepted', (t) => {
  for (const host of [
    'web',
    'web.team-a',
    'web.team-a.svc.cluster.local',
    'WEB.Team-A.svc.cluster.local.',
    '_sip._tcp.example.com',
    'my_host.internal',
    'xn--bcher-kva.example',
    '3com.com',
    'a'.repeat(63) + '.example',
    `${'a'.repeat(61)}.`.repeat(4).slice(0, 252) + 'b',
    '10.96.0.1',
    '::1',
    'fd00:10:96::a',
    '[fd00:10:96::a]',
    '::ffff:10.0.0.1',
  ]) {
    t.deepEqual(checkHost(host), { ok: true }, host);
  }
});

test('empty, overlong, badly punctuated and non-ASCII names are refused with a reason', (t) => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['.', /empty/],
    ['a..b', /empty label/],
    ['.a', /empty label/],
    ['a'.repeat(64) + '.example', /longer than 63/],
    [`${'a'.repeat(50)}.`.repeat(5) + 'abcd', /longer than 253/],
    ['-web.example', /starts or ends with "-"/],
    ['web-.example', /starts or ends with "-"/],
    ['web example', /character/],
    ['web\x1b[31m.example', /character/],
    ['web\r\nX-Forged: 1', /character/],
    ['web%2eexample', /character/],
    ['web/../x', /character/],
    ['user@web', /character/],
    ['bücher.example', /character/],
    ['1.2.3', /ends in a number/],
    ['999.1.1.1', /ends in a number/],
    ['10.0x7f', /ends in a number/],
    ['localhost.0', /ends in a number/],
    ['[10.0.0.1]', /not an IPv6/],
    ['[::1', /not an IPv6/],
  ];
  for (const [host, why] of cases) {
    const check = checkHost(host);
    t.false(check.ok, JSON.stringify(host));
    if (!check.ok) t.regex(check.why, why, JSON.stringify(host));
  }
});

test('property: every name built from valid labels within 253 bytes is accepted', (t) => {
  fc.assert(
    fc.property(hostName, (host) => {
      const bare = host.endsWith('.') ? host.slice(0, -1) : host;
      return checkHost(host).ok === bare.length <= MAX_HOST_NAME_BYTES;
    }),
  );
  t.true(checkHost('web.team-a').ok);
});

test('property: a name with any byte outside letters, digits, "-", "_" and "." is refused (unless it is an IP literal)', (t) => {
  const outside = fc.integer({ min: 0, max: 255 }).map((code) => String.fromCharCode(code)).filter((char) => !/[A-Za-z0-9_.-]/.test(char));
  fc.assert(
    fc.property(hostName, outside, fc.nat(), (host, char, at) => {
      const position = at % (host.length + 1);
      const spoiled = host.slice(0, position) + char + host.slice(position);
      if (isIPv4(spoiled) || isIPv6(spoiled)) return true;
      return !checkHost(spoiled).ok;
    }),
  );
  t.false(checkHost('web\0.example').ok);
});

test('property: a label longer than 63 bytes is refused wherever it is', (t) => {
  const overlong = fc.string({ unit: fc.constantFrom(...LABEL_CHARS), minLength: MAX_LABEL_BYTES - 1, maxLength: 100 }).map((middle) => `a${middle}a`);
  fc.assert(
    fc.property(fc.array(label(10), { maxLength: 3 }), overlong, fc.nat(), (labels, long, at) => {
      const all = [...labels, 'example'];
      all.splice(at % all.length, 0, long);
      return !checkHost(all.join('.')).ok;
    }),
  );
  t.false(checkHost('x'.repeat(64)).ok);
});

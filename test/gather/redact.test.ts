import test from 'ava';
import fc from 'fast-check';
import { MIN_SECRET_LENGTH, REDACTED, redact } from '../../src/gather/redact.js';

// Secrets as tokens are made: base64url, base64 and hex characters, never the marker's brackets.
const secretArb = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/='.split('')), minLength: MIN_SECRET_LENGTH, maxLength: 64 }).filter((s) => !REDACTED.includes(s) && s.trim().length >= MIN_SECRET_LENGTH);
const textArb = fc.string({ maxLength: 200 });

test('a known secret is gone wherever it sits in any text, in plain, URL-encoded, base64 and JSON forms', (t) => {
  fc.assert(
    fc.property(secretArb, textArb, textArb, textArb, (secret, a, b, c) => {
      const text = `${a}${secret}${b}${encodeURIComponent(secret)}${c}${Buffer.from(secret).toString('base64')}${JSON.stringify({ v: secret })}`;
      const out = redact(text, ['x', secret]);
      return !out.includes(secret) && !out.includes(Buffer.from(secret).toString('base64'));
    }),
    { numRuns: 2000 },
  );
  t.is(redact('token abcdef123 here', ['abcdef123']), `token ${REDACTED} here`);
});

test('several secrets, one inside another, all go', (t) => {
  fc.assert(
    fc.property(fc.array(secretArb, { minLength: 1, maxLength: 5 }), textArb, (secrets, filler) => {
      const out = redact(secrets.join(filler) + filler + secrets.toReversed().join(' '), secrets);
      return secrets.every((s) => !out.includes(s));
    }),
    { numRuns: 1000 },
  );
  const inner = 'innersecret';
  const outer = `outer-${inner}-outer`;
  const out = redact(`${outer} and ${inner}`, [inner, outer]);
  t.false(out.includes(inner));
  t.false(out.includes('outer-'));
});

test('secret-shaped values go even when tp does not know them', (t) => {
  fc.assert(
    fc.property(secretArb.filter((s) => /^[A-Za-z0-9_-]+$/.test(s)), (secret) => {
      const lines = [
        `Authorization: Bearer ${secret}`,
        `Proxy-Authorization: Basic ${secret}`,
        `export HTTPS_PROXY=http://tp:${secret}@127.0.0.1:1080`,
        `pac: http://127.0.0.1:1/proxy.pac?key=${secret}&x=1`,
        `GET /x?access_token=${secret} HTTP/1.1`,
        `{"password": "${secret}", "clientToken":"${secret}"}`,
        `socks5h://tp:${secret}@127.0.0.1:1`,
      ];
      const out = redact(lines.join('\n'), []);
      return !out.includes(secret);
    }),
    { numRuns: 1000 },
  );
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXBhcnQ';
  t.is(redact(`token ${jwt}`, []), `token ${REDACTED}`);
  t.is(redact(`agent.team-a.${'A'.repeat(43)} hello`, []), `${REDACTED} hello`);
});

test('text without secrets passes unchanged, and short known values are not hunted', (t) => {
  const line = '2026-01-01T00:00:00.000Z INFO  tp:daemon connected: socks 127.0.0.1:1080, http 127.0.0.1:8080';
  t.is(redact(line, ['8080', 'true', '']), line);
  t.is(redact('{"user": "tp", "phase": "connected"}', []), '{"user": "tp", "phase": "connected"}');
  t.is(redact('http://tp:pw@h/ and http://h:8080/', []), `http://tp:${REDACTED}@h/ and http://h:8080/`);
});

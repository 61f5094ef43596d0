// A SOCKS5 client controls the host name it sends (RFC 1928 §4: any 1-255 bytes). Whatever the
// server does with a name full of control characters, its log lines stay one line each and carry
// no control character.
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import test from 'ava';
import { SocksServer } from '../../src/proxy/socks-server.js';
import { captureLogs } from '../helpers/capture-logs.js';

const FORGED = 'x\r\n2026-01-01T00:00:00.000Z INFO  tp:daemon connected: forged\x1b[2J\x1b]0;title\x07\u202e';

test('a SOCKS5 host name with CR, LF, ESC and bidi controls cannot forge a log line', async (t) => {
  const lines = captureLogs(t);
  const server = new SocksServer({
    host: '127.0.0.1',
    route: () => ({ via: 'direct', reason: 'test' }),
    dial: async () => {
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    },
  });
  const { port } = (await server.listen()) as AddressInfo;
  t.teardown(() => server.destroy());
  const name = Buffer.from(FORGED, 'latin1');
  const client = connect({ host: '127.0.0.1', port });
  t.teardown(() => client.destroy());
  await once(client, 'connect');
  client.write(Buffer.from([0x05, 0x01, 0x00]));
  client.write(Buffer.concat([Buffer.from([0x05, 0x01, 0x00, 0x03, name.length]), name, Buffer.from([0x00, 0x50])]));
  const replies: Buffer[] = [];
  client.on('data', (chunk: Buffer) => replies.push(chunk));
  await once(client, 'close');
  const reply = Buffer.concat(replies);
  t.is(reply[1], 0x00, 'no authentication was chosen');
  t.not(reply[3], 0x00, 'the CONNECT was not reported as a success');
  t.true(lines.some((line) => / tp:proxy:socks !! s\d+ /.test(line)), 'the failure was logged');
  for (const line of lines) {
    t.is(line.indexOf('\n'), line.length - 1, `one line: ${JSON.stringify(line)}`);
    t.false([...line.slice(0, -1)].some((char) => char < ' ' || (char >= '\x7f' && char <= '\x9f') || char === '\u202e'), JSON.stringify(line));
  }
  t.false(lines.join('').split('\n').some((line) => line.startsWith('2026-01-01')));
});

import test from 'ava';
import { encodeSyncFrame, SyncDecoder, SyncFormatError } from '../../src/volumes/sync-frames.js';

const prefix = (header: number, body: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(header, 0);
  b.writeUInt32BE(body, 4);
  return b;
};

test('a body over the receiver\'s cap is refused from its 8-byte prefix, before anything is buffered', (t) => {
  t.throws(() => new SyncDecoder(10).push(prefix(20, 11)), { instanceOf: SyncFormatError, message: /body length 11 is over 10/ });
  t.throws(() => new SyncDecoder().push(prefix(0, 0)), { message: /header length 0/ });
  t.throws(() => new SyncDecoder().push(prefix(70_000, 0)), { message: /header length 70000/ });
});

test('frames split anywhere come out whole; paths that leave the root are refused', (t) => {
  const bytes = Buffer.concat([encodeSyncFrame({ t: 'file', p: 'etc/app/a', mode: 0o644, body: Buffer.from('hello') }), encodeSyncFrame({ t: 'synced' })]);
  const decoder = new SyncDecoder();
  const frames = [...bytes].flatMap((byte) => decoder.push(Buffer.from([byte])));
  t.deepEqual(frames, [{ t: 'file', p: 'etc/app/a', mode: 0o644, body: Buffer.from('hello') }, { t: 'synced' }]);
  for (const p of ['../x', 'a/../b', '/etc/x', 'a//b', 'a/./b', 'a\0b']) {
    const header = Buffer.from(JSON.stringify({ t: 'rm', p }));
    t.throws(() => new SyncDecoder().push(Buffer.concat([prefix(header.length, 0), header])), { instanceOf: SyncFormatError }, p);
  }
});

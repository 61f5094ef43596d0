// A preload for bench/intercept-local.ts's role processes (BENCH_NODE_ARGS="--import
// ./bench/intercept-copy-count.ts"): counts the bytes a process copies into buffers it allocates
// while relaying, and prints the counts to stderr when it exits. Two counts:
//   ws-receiver: bytes the `ws` Receiver copied to join a frame payload that spans socket reads
//                (its consume() returning a buffer of its own instead of a slice of a read);
//   allocUnsafe: bytes of every Buffer.allocUnsafe of 1 KiB or more (Buffer.concat's too), which
//                includes the above, tp's frame decoder joining pieces and its frame writer's
//                batches.
// Patches live objects (a measurement aid, never loaded by tp itself).
import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const counts = { wsReceiverCopies: 0, wsReceiverBytes: 0, allocUnsafeCalls: 0, allocUnsafeBytes: 0 };

const Receiver = (require('ws') as { Receiver: unknown }).Receiver as { prototype: { consume(n: number): Buffer; _buffers: Buffer[] } };
const consume = Receiver.prototype.consume;
Receiver.prototype.consume = function (this: { _buffers: Buffer[] }, n: number): Buffer {
  const first = this._buffers[0];
  const out = consume.call(this, n);
  if (first && n > first.length) {
    counts.wsReceiverCopies++;
    counts.wsReceiverBytes += n;
  }
  return out;
};

const allocUnsafe = Buffer.allocUnsafe;
Buffer.allocUnsafe = function (size: number) {
  if (size >= 1024) {
    counts.allocUnsafeCalls++;
    counts.allocUnsafeBytes += size;
  }
  return allocUnsafe(size);
} as typeof Buffer.allocUnsafe;

const role = process.argv[process.argv.findIndex((arg) => arg.endsWith('intercept-local-role.ts')) + 1] ?? '';
process.on('exit', () => {
  const mib = (n: number): string => (n / 1048576).toFixed(1);
  writeSync(2, `copy-count pid ${process.pid} ${role}: ws receiver ${counts.wsReceiverCopies} copies ${mib(counts.wsReceiverBytes)} MiB; allocUnsafe >= 1 KiB ${counts.allocUnsafeCalls} calls ${mib(counts.allocUnsafeBytes)} MiB\n`);
});

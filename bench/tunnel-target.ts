// Benchmark destination (a separate process): a TCP server on 127.0.0.1 speaking a one-byte
// command protocol. 'B' + u64 size: send `size` bytes of filler, then end. 'E': echo everything
// until the client ends. Prints {"port": n} on stdout when listening.
import net from 'node:net';

const FILLER = Buffer.alloc(256 * 1024, 0x5a);

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    if (head[0] === 0x45 /* E */) {
      socket.off('data', onData);
      if (head.length > 1) socket.write(head.subarray(1));
      socket.pipe(socket);
      return;
    }
    if (head[0] === 0x42 /* B */ && head.length >= 9) {
      socket.off('data', onData);
      let remaining = Number(head.readBigUInt64BE(1));
      const pump = (): void => {
        while (remaining > 0) {
          const chunk = remaining >= FILLER.length ? FILLER : FILLER.subarray(0, remaining);
          remaining -= chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
        socket.end();
      };
      socket.resume();
      pump();
    } else if (head.length > 0 && head[0] !== 0x42) {
      socket.destroy();
    }
  };
  socket.on('data', onData);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as net.AddressInfo).port }) + '\n');
});
process.on('SIGTERM', () => process.exit(0));

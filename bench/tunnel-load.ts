// Benchmark load generator (a separate process): runs one workload against 127.0.0.1:<port> and
// prints its result as JSON. Workloads: bulk <bytes> <streams> (download through the path),
// rr <ms> (64-byte request/response on one connection), opens <ms> <concurrency> (connect,
// 1 KiB echo, close).
import net from 'node:net';

const [workload, portText, a, b] = process.argv.slice(2);
const port = Number(portText);

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.setNoDelay(true);
    socket.once('error', reject);
  });
}

async function download(bytes: number): Promise<number> {
  const socket = await connect();
  const command = Buffer.alloc(9);
  command[0] = 0x42;
  command.writeBigUInt64BE(BigInt(bytes), 1);
  socket.write(command);
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
  });
  await new Promise((resolve) => socket.once('end', resolve));
  if (received !== bytes) throw new Error(`received ${received} of ${bytes} bytes`);
  return received;
}

async function bulk(bytes: number, streams: number): Promise<object> {
  const per = Math.floor(bytes / streams);
  const start = performance.now();
  await Promise.all(Array.from({ length: streams }, () => download(per)));
  const seconds = (performance.now() - start) / 1000;
  return { bytes: per * streams, seconds, bytesPerSecond: (per * streams) / seconds };
}

function exchange(socket: net.Socket, message: Buffer, expected = message.length): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (chunk: Buffer): void => {
      got += chunk.length;
      if (got >= expected) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.write(message);
  });
}

async function rr(durationMs: number): Promise<object> {
  const socket = await connect();
  socket.write('E');
  const message = Buffer.alloc(64, 1);
  let count = 0;
  const start = performance.now();
  while (performance.now() - start < durationMs) {
    await exchange(socket, message);
    count++;
  }
  const seconds = (performance.now() - start) / 1000;
  socket.destroy();
  return { roundTrips: count, seconds, perSecond: count / seconds };
}

async function opens(durationMs: number, concurrency: number): Promise<object> {
  const message = Buffer.concat([Buffer.from('E'), Buffer.alloc(1024, 2)]);
  let count = 0;
  const start = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() - start < durationMs) {
      const socket = await connect();
      await exchange(socket, message, message.length - 1);
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.end();
        socket.resume();
      });
      count++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  return { opens: count, seconds, perSecond: count / seconds };
}

const run = workload === 'bulk' ? bulk(Number(a), Number(b)) : workload === 'rr' ? rr(Number(a)) : opens(Number(a), Number(b));
run.then(
  (result) => process.stdout.write(JSON.stringify(result) + '\n'),
  (error: Error) => {
    process.stderr.write(`load ${workload} failed: ${error.message}\n`);
    process.exit(1);
  },
);

// The daemon's log as a user keeps it: at the default level, requests that work leave no line and
// a failed one leaves exactly one; --log-level debug adds the per-connection lines; a host name a
// client forges stays one escaped line. Prints the log bytes per 1,000 requests at each level.
import { readFileSync, statSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { connect, ensureDemoAndManager, newLaptop, type Laptop, type Listeners } from './helpers/laptop.js';

const REQUESTS = 100;
const FORGED = 'x\r\n2026-01-01T00:00:00.000Z INFO  tp:daemon connected: forged\x1b[2J\u202e';

let laptop: Laptop;

test.before(async () => {
  laptop = newLaptop('logs');
  await ensureDemoAndManager(laptop);
});

test.after.always(async () => {
  await laptop?.cleanup();
});

/** REQUESTS sequential curls through SOCKS5, each its own connection; returns the log bytes they added. */
async function requests(listeners: Listeners, logFile: string): Promise<number> {
  const before = statSync(logFile).size;
  const loop = `for i in $(seq ${REQUESTS}); do curl -sS --fail --max-time 10 -o /dev/null --socks5-hostname "$1" http://hello.default/ || exit 1; done`;
  await laptop.run('sh', ['-c', loop, 'requests', listeners.socks], { timeoutMs: 180_000 });
  return statSync(logFile).size - before;
}

/** Sends one SOCKS5 CONNECT for `host` from a raw client (curl refuses such names) and waits for the reply. */
async function socksConnect(listeners: Listeners, host: string): Promise<void> {
  const [address, port] = listeners.socks.split(':');
  const script = `
    const name = Buffer.from(process.argv[2], 'latin1');
    const s = require('node:net').connect(Number(process.argv[1]), ${JSON.stringify(address)}, () => {
      s.write(Buffer.from([5, 1, 0]));
      s.write(Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, Buffer.from([0, 80])]));
    });
    s.on('data', () => undefined).on('close', () => process.exit(0)).on('error', () => process.exit(0));`;
  await laptop.run(process.execPath, ['-e', script, port, host]);
}

function lines(logFile: string): string[] {
  return readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
}

function perThousand(t: ExecutionContext, level: string, bytes: number): void {
  t.log(`${level}: ${bytes} log bytes for ${REQUESTS} SOCKS5 requests = ${Math.round((bytes * 1000) / REQUESTS)} bytes per 1,000`);
}

test.serial('at the default level, working requests leave no line and a failed connection leaves one', async (t) => {
  const { listeners, status } = await connect(laptop);
  t.is(status.logLevel, 'info');
  const logFile = status.logFile as string;
  const bytes = await requests(listeners, logFile);
  perThousand(t, 'info', bytes);
  await t.throwsAsync(laptop.run('curl', ['-sS', '--fail', '--max-time', '20', '--socks5-hostname', listeners.socks, 'http://no-such-service.default/']));
  const all = lines(logFile);
  t.true(all.some((line) => / INFO {2}tp:daemon connected: socks /.test(line)), 'lifecycle lines are there');
  t.false(all.some((line) => / DEBUG /.test(line)));
  t.false(all.some((line) => line.includes('hello.default')), 'working requests leave no line');
  const failed = all.filter((line) => line.includes('no-such-service'));
  t.is(failed.length, 1, failed.join('\n'));
  t.regex(failed[0], / INFO {2}tp:proxy:socks !! s\d+ \S+: could not connect to no-such-service\.default:80/);
  const { stdout } = await laptop.tp(['status']);
  t.regex(stdout, /^Log: {8}\S+daemon-default\.log \(level info\)$/m);
});

test.serial('tp connect --log-level debug adds a line per connection; a forged host name stays one escaped line', async (t) => {
  await laptop.tp(['quit']);
  const { listeners, status } = await connect(laptop, ['--log-level', 'debug']);
  t.is(status.logLevel, 'debug');
  const logFile = status.logFile as string;
  const bytes = await requests(listeners, logFile);
  perThousand(t, 'debug', bytes);
  t.true(lines(logFile).filter((line) => / DEBUG tp:proxy:socks -> s\d+ \S+ CONNECT hello\.default:80 /.test(line)).length >= REQUESTS);
  await socksConnect(listeners, FORGED);
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    t.false(line.startsWith('2026-01-01'), 'no forged line');
    t.false(['\r', '\x1b', '\u202e'].some((char) => line.includes(char)), JSON.stringify(line));
  }
  const { stdout } = await laptop.tp(['connect', '--log-level', 'info']);
  t.regex(stdout, /The running daemon logs at debug; for info, run `tp quit`, then connect again\./);
});

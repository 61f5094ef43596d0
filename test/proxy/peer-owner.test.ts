import test from 'ava';
import fc from 'fast-check';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { endianness } from 'node:os';
import { parseProcNetLine, peerOwnerSupported, tcpPeerUid, udpSourceUid, useSockDiag } from '../../src/proxy/peer-owner.js';
import { PEER_UID_HELPER, SockDiag } from '../../src/proxy/sock-diag.js';
import { existsSync } from 'node:fs';
import { RUNNING_AS_ROOT, TEST_USER, spawnAsUser } from '../helpers/unprivileged.js';

const OWN_UID = process.getuid!();

/** A TCP listener on `host` that hands over the first accepted socket. */
async function listen(host: string): Promise<{ port: number; accepted: Promise<Socket>; close: () => void }> {
  const server = createServer();
  const accepted = once(server, 'connection').then(([socket]) => socket as Socket);
  server.listen(0, host);
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, accepted, close: () => server.close() };
}

const ownEnds = (socket: Socket) => [
  { address: socket.localAddress!, port: socket.localPort! },
  { address: socket.remoteAddress!, port: socket.remotePort! },
] as const;

/** A node process, run as the test user, that connects (or sends a datagram) and lives until its stdin ends. */
function clientAsTestUser(script: string): { child: ChildProcess; stop: () => void } {
  const child = spawnAsUser(process.execPath, ['-e', `${script}; process.stdin.on('data', () => {}).on('end', () => process.exit(0));`], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  return { child, stop: () => child.stdin?.end() };
}

// Every lookup is tried both ways: the exact netlink query through tp-peer-uid, and /proc/net.
for (const [way, helper] of [['netlink', PEER_UID_HELPER], ['/proc', undefined]] as const) {
  for (const host of ['127.0.0.1', '::1']) {
    test.serial(`the peer of a connection from this process is our own uid (${host}) (${way})`, async (t) => {
      useSockDiag(helper);
      t.true(await peerOwnerSupported());
      const listener = await listen(host);
      const client = connect({ host, port: listener.port });
      const socket = await listener.accepted;
      t.is(await tcpPeerUid(...ownEnds(socket)), OWN_UID);
      client.destroy();
      socket.destroy();
      listener.close();
    });
  }

  test.serial(`a client of a listener on :: connecting over IPv4 is found through its IPv4 row (${way})`, async (t) => {
      useSockDiag(helper);
    const listener = await listen('::');
    const client = connect({ host: '127.0.0.1', port: listener.port });
    const socket = await listener.accepted;
    t.regex(socket.remoteAddress!, /^::ffff:127\.0\.0\.1$/);
    t.is(await tcpPeerUid(...ownEnds(socket)), OWN_UID);
    client.destroy();
    socket.destroy();
    listener.close();
  });

  test.serial(`the peer of a connection from another user is that user’s uid (${way})`, async (t) => {
      useSockDiag(helper);
    if (!RUNNING_AS_ROOT) return t.log('not root: cannot run a client as another user') as unknown as void;
    const otherUid = Number(execFileSync('id', ['-u', TEST_USER], { encoding: 'utf8' }).trim());
    t.not(otherUid, OWN_UID);
    const listener = await listen('127.0.0.1');
    const child = clientAsTestUser(`require('net').connect(${listener.port}, '127.0.0.1'); `);
    try {
      const socket = await listener.accepted;
      t.is(await tcpPeerUid(...ownEnds(socket)), otherUid);
      socket.destroy();
    } finally {
      child.stop();
      listener.close();
    }
  });

  test.serial(`a peer that has gone is no answer (${way})`, async (t) => {
      useSockDiag(helper);
    const listener = await listen('127.0.0.1');
    const client = connect({ host: '127.0.0.1', port: listener.port, allowHalfOpen: true });
    const socket = await listener.accepted;
    const ends = ownEnds(socket);
    socket.on('error', () => {});
    client.resetAndDestroy();
    await new Promise((resolve) => socket.on('close', resolve));
    t.is(await tcpPeerUid(...ends), undefined);
    listener.close();
  });

  test.serial(`the source of a datagram is owned by its sender’s uid (${way})`, async (t) => {
      useSockDiag(helper);
    const server = createSocket('udp4');
    server.bind(0, '127.0.0.1');
    await once(server, 'listening');
    const port = server.address().port;
    const received = once(server, 'message').then(([, rinfo]) => rinfo as RemoteInfo);
    const own = createSocket('udp4');
    own.send('x', port, '127.0.0.1');
    const rinfo = await received;
    t.is(await udpSourceUid(rinfo, server.address()), OWN_UID);
    own.close();

    if (RUNNING_AS_ROOT) {
      const otherUid = Number(execFileSync('id', ['-u', TEST_USER], { encoding: 'utf8' }).trim());
      const fromOther = once(server, 'message').then(([, info]) => info as RemoteInfo);
      const child = clientAsTestUser(
        `const s = require('dgram').createSocket('udp6'); s.send('x', ${port}, '::ffff:127.0.0.1'); `,
      );
      try {
        t.is(await udpSourceUid(await fromOther, server.address()), otherUid);
      } finally {
        child.stop();
      }
    }
    server.close();
  });

  test.serial(`lookups made at once are answered together, each with its own peer (${way})`, async (t) => {
      useSockDiag(helper);
    const listener = createServer();
    const accepted: Socket[] = [];
    listener.on('connection', (socket) => accepted.push(socket));
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const port = (listener.address() as AddressInfo).port;
    const clients = await Promise.all(
      Array.from({ length: 400 }, () => new Promise<Socket>((resolve) => { const c = connect({ host: '127.0.0.1', port }, () => resolve(c)); })),
    );
    while (accepted.length < clients.length) await new Promise((resolve) => setTimeout(resolve, 10));
    // Half the peers are gone before the lookups run: those must be no answer, the others ours.
    const gone = new Set(accepted.filter((_, i) => i % 2 === 0));
    const ends = accepted.map(ownEnds);
    const byPort = new Map(clients.map((c) => [c.localPort, c]));
    for (const socket of gone) byPort.get(socket.remotePort)!.resetAndDestroy();
    await Promise.all([...gone].map((socket) => new Promise((resolve) => { socket.on('error', () => {}); if (socket.destroyed) resolve(null); else socket.on('close', resolve); })));
    const uids = await Promise.all(ends.map((e) => tcpPeerUid(...e)));
    uids.forEach((uid, i) => t.is(uid, gone.has(accepted[i]) ? undefined : OWN_UID));
    for (const c of clients) c.destroy();
    for (const s of accepted) s.destroy();
    listener.close();
  });
}

test.serial('the netlink way answers itself (no fallback), and a missing helper says to fall back', async (t) => {
  t.true(PEER_UID_HELPER !== undefined && existsSync(PEER_UID_HELPER), 'shims/build.sh builds tp-peer-uid next to libtp.so');
  const listener = await listen('127.0.0.1');
  const client = connect({ host: '127.0.0.1', port: listener.port });
  const socket = await listener.accepted;
  const [local, remote] = ownEnds(socket);
  const diag = new SockDiag(PEER_UID_HELPER);
  t.teardown(() => diag.close());
  t.is(await diag.tcp(remote, local), OWN_UID);
  t.is(await diag.tcp({ address: '127.0.0.1', port: 1 }, local), 'none');
  t.is(await new SockDiag('/nonexistent/tp-peer-uid').tcp(remote, local), 'unknown');
  client.destroy();
  socket.destroy();
  listener.close();
});
test('rows of the real tables parse, the header does not', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const lines = (await readFile('/proc/net/tcp', 'latin1')).split('\n').filter(Boolean);
  t.is(parseProcNetLine(lines[0]), undefined);
  for (const line of lines.slice(1)) t.truthy(parseProcNetLine(line), line);
});

test('a hand-written IPv4 and a mapped IPv6 row parse to the same address', (t) => {
  const le = endianness() === 'LE';
  const v4 = parseProcNetLine(
    `   3: ${le ? '0100007F' : '7F000001'}:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 4242 1 0 100 0 0 10 0`,
  );
  const mapped = parseProcNetLine(
    `   0: 0000000000000000${le ? 'FFFF0000' : '0000FFFF'}${le ? '0100007F' : '7F000001'}:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 4243 1 0 100 0 0 10 0`,
  );
  t.deepEqual(v4?.local, { bytes: Uint8Array.from([127, 0, 0, 1]), port: 8080 });
  t.deepEqual(mapped?.local, v4?.local);
  t.is(v4?.uid, 1001);
  t.is(v4?.inode, 4242);
});

test('the line parser never throws and only answers with well-formed rows', (t) => {
  const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789ABCDEFabcdef'), minLength: n, maxLength: n });
  const end = fc.oneof(fc.tuple(hex(8), hex(4)), fc.tuple(hex(32), hex(4))).map(([a, p]) => `${a}:${p}`);
  const rowish = fc
    .tuple(fc.nat(), end, end, hex(2), fc.oneof(fc.nat(), fc.string()), fc.oneof(fc.nat(), fc.string()), fc.array(fc.string(), { maxLength: 4 }))
    .map(([sl, l, r, st, uid, inode, rest]) => [`${sl}:`, l, r, st, '00000000:00000000', '00:00000000', '00000000', uid, '0', inode, ...rest].join(' '));
  fc.assert(
    fc.property(fc.oneof(fc.string(), rowish), (line) => {
      const row = parseProcNetLine(line);
      if (row === undefined) return true;
      return (
        [4, 16].includes(row.local.bytes.length) &&
        [4, 16].includes(row.remote.bytes.length) &&
        row.local.port <= 0xffff &&
        Number.isInteger(row.uid) &&
        row.uid >= 0 &&
        row.uid <= 0xffffffff &&
        Number.isSafeInteger(row.inode)
      );
    }),
    { numRuns: 2000 },
  );
  t.truthy(parseProcNetLine('   0: 0100007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1'));
});


/** The helper's path; shims/build.sh builds it (the netlink test above says so when it is missing). */
function builtHelper(): string {
  if (!PEER_UID_HELPER) throw new Error('tp-peer-uid is not built: run shims/build.sh');
  return PEER_UID_HELPER;
}

test('many questions in flight at once are each answered under their own id, mixed with ones that have no socket', async (t) => {
  const helper = builtHelper();
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const count = 24;
  const accepted: Socket[] = [];
  const allAccepted = new Promise<void>((resolve) => server.on('connection', (socket: Socket) => accepted.push(socket) === count && resolve()));
  const clients = Array.from({ length: count }, () => connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port }));
  t.teardown(() => [...clients, ...accepted].forEach((socket) => socket.destroy()));
  await allAccepted;
  const diag = new SockDiag(helper);
  t.teardown(() => diag.close());
  // All in flight together: the helper reads several per read and answers them in one write.
  const answers = await Promise.all(
    accepted.flatMap((socket) => {
      const [local, remote] = ownEnds(socket);
      return [diag.tcp(remote, local), diag.tcp({ address: '127.0.0.1', port: 1 }, local)];
    }),
  );
  t.deepEqual(answers, accepted.flatMap(() => [OWN_UID, 'none']));
});

test('tp-peer-uid answers every line of one write in order, and a line too long to be a question once, with "?"', (t) => {
  // Longer than the helper's whole input buffer, so no read can hold its end: the helper must
  // answer it from its start and skip the rest, not answer each piece.
  const long = `7 tcp ${'1'.repeat(20_000)}`;
  const input = `1 tcp 127.0.0.1 1 127.0.0.1 2\n2 udp 127.0.0.1 1 127.0.0.1 2\nbad\n${long}\n3 tcp ::1 5 ::1 6\n4 tcp 1.2.3.4 5 ::1 6\n`;
  const output = execFileSync(builtHelper(), { input, encoding: 'utf8' });
  t.is(output, '1 -\n2 -\nbad ?\n7 ?\n3 -\n4 ?\n');
});

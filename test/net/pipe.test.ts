// pipeBothWays with real TCP on both ends, as the SOCKS5 server, CONNECT, the redirect listener,
// the agent and the manager use it: a client socket joined to a plain TCP connection, to a tunnel
// stream that the far side dials, and two tunnel streams joined. Neither socket is made half-open by its creator here.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeBothWays } from '../../src/net/pipe.js';
import { acceptByDialing } from '../../src/tunnel/dialer.js';
import { tcpEndings, type MakeRelay } from '../helpers/tcp-endings.js';
import { memorySessions } from '../tunnel/helpers.js';

function relayWith(upstreamFor: (t: Parameters<MakeRelay>[0], originPort: number) => Promise<Duplex>): MakeRelay {
  return async (t, originPort, { delayMs = 0 } = {}) => {
    const relay = net.createServer({ allowHalfOpen: delayMs > 0 }, (socket) => {
      socket.pause();
      const pipe = () => void upstreamFor(t, originPort).then((upstream) => pipeBothWays(socket, upstream, () => undefined), () => socket.resetAndDestroy());
      setTimeout(pipe, delayMs);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    t.teardown(() => relay.close());
    return (relay.address() as net.AddressInfo).port;
  };
}

tcpEndings('pipeBothWays, socket to socket', relayWith((_t, port) => new Promise((resolve, reject) => {
  const upstream = net.connect({ host: '127.0.0.1', port });
  upstream.once('connect', () => resolve(upstream)).once('error', reject);
})));

tcpEndings('pipeBothWays, socket to tunnel stream', relayWith((t, port) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  server.on('stream', (open) => void acceptByDialing(open, { dial: (host, dialPort) => net.connect({ host, port: dialPort }) }));
  return client.open({ host: '127.0.0.1', port });
}));

// The manager's intercept splice: the client's socket → a tunnel stream (the laptop's session) →
// pipeBothWays → a tunnel stream (the agent's session) → dialled → origin. Two tunnel streams joined.
tcpEndings('pipeBothWays, tunnel stream to tunnel stream', relayWith((t, port) => {
  const near = memorySessions();
  const far = memorySessions();
  t.teardown(() => {
    near.client.destroy();
    far.client.destroy();
  });
  far.server.on('stream', (open) => void acceptByDialing(open, { dial: (host, dialPort) => net.connect({ host, port: dialPort }) }));
  near.server.on('stream', (open) => {
    void far.client.open({ host: open.host, port: open.port }).then(
      (onward) => pipeBothWays(open.accept(), onward, () => undefined),
      () => open.reject('refused', 'the far side refused'),
    );
  });
  return near.client.open({ host: '127.0.0.1', port });
}));

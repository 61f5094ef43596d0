// pipeSocket with real TCP on both ends: client → relay socket → tunnel stream → dialled socket
// → origin, the laptop and manager halves of every tunnelled connection. Neither socket is made
// half-open by its creator here: pipeSocket must keep TCP semantics by itself.
import net from 'node:net';
import { acceptByDialing } from '../../src/tunnel/dialer.js';
import { pipeSocket } from '../../src/tunnel/socket-pipe.js';
import { tcpEndings } from '../helpers/tcp-endings.js';
import { memorySessions } from './helpers.js';

tcpEndings('pipeSocket', async (t, originPort, { delayMs = 0 } = {}) => {
  const { client, server } = memorySessions();
  t.teardown(() => client.destroy());
  server.on('stream', (open) => void acceptByDialing(open, { dial: (host, port) => net.connect({ host, port }) }));
  const relay = net.createServer({ allowHalfOpen: delayMs > 0 }, (socket) => {
    socket.pause();
    const pipe = () => void client.open({ host: '127.0.0.1', port: originPort }).then((stream) => pipeSocket(stream, socket), () => socket.resetAndDestroy());
    setTimeout(pipe, delayMs);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  t.teardown(() => relay.close());
  return (relay.address() as net.AddressInfo).port;
});

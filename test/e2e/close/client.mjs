// The close-semantics matrix's Node client, for `tp run` through the Node preload: the same
// endings as client.py, over a plain net.connect() that the preload redirects. Prints one JSON
// line: body bytes, their SHA-256, how the connection ended ("end" or "reset").
// usage: node client.mjs HOST PORT big N RATE | upload M N | reset N | hold ID
import net from 'node:net';
import crypto from 'node:crypto';

const [host, portText, ending, ...args] = process.argv.slice(2);
const port = Number(portText);
const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');

function pattern(n) {
  const block = Buffer.alloc(64 * 1024);
  for (let i = 0; i < block.length; i += 32) crypto.createHash('sha256').update(`tp-close-${i}`).digest().copy(block, i);
  const out = Buffer.alloc(n);
  for (let at = 0; at < n; at += block.length) block.copy(out, at, 0, Math.min(block.length, n - at));
  return out;
}

/** One request; resolves with the answer's body and how the connection ended. */
function exchange(request, { rate = 0, upload = null, onReady = null } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: true });
    const chunks = [];
    let received = 0;
    const started = Date.now();
    socket.on('connect', () => {
      socket.write(request);
      if (upload) socket.end(upload);
    });
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      received += chunk.length;
      if (onReady && Buffer.concat(chunks).toString('latin1').endsWith('ready\n')) return onReady(socket);
      const ahead = rate ? (received / rate) * 1000 - (Date.now() - started) : 0;
      if (ahead > 0) {
        socket.pause();
        setTimeout(() => socket.resume(), ahead);
      }
    });
    const finish = (ended) => {
      const data = Buffer.concat(chunks);
      const headEnd = data.indexOf('\r\n\r\n');
      resolve({ body: headEnd < 0 ? Buffer.alloc(0) : data.subarray(headEnd + 4), ended });
    };
    // libuv reports an RST that arrives while bytes are unread as an end: a zero-length write
    // fails with ECONNRESET on a reset socket (the 'error' below then answers), works after a FIN.
    // (Once our own FIN is sent no write can ask; the end counts as one.)
    socket.on('end', () => {
      if (!socket.writable) return finish('end');
      socket.write(Buffer.alloc(0), (error) => error || (socket.end(), finish('end')));
    });
    socket.on('error', (error) => (error.code === 'ECONNRESET' ? finish('reset') : reject(error)));
  });
}

const get = (path, method = 'GET') => `${method} ${path} HTTP/1.0\r\nHost: ${host}:${port}\r\n\r\n`;

async function main() {
  const result = {};
  let answer;
  if (ending === 'big') answer = await exchange(get(`/big/${args[0]}`), { rate: Number(args[1]) });
  else if (ending === 'upload') {
    const sent = pattern(Number(args[0]));
    answer = await exchange(get(`/upload/${args[1]}`, 'POST'), { upload: sent });
    const newline = answer.body.indexOf('\n');
    result.serverSaw = answer.body.subarray(0, newline).toString();
    result.sent = `${sent.length} ${sha256(sent)}`;
    answer.body = answer.body.subarray(newline + 1);
  } else if (ending === 'reset') answer = await exchange(get(`/reset/${args[0]}`));
  else if (ending === 'hold') {
    await new Promise((resolve, reject) => {
      exchange(get(`/hold/${args[0]}`), { onReady: (socket) => resolve(socket.resetAndDestroy()) }).catch(reject);
    });
    answer = { body: Buffer.alloc(0), ended: 'reset' };
    const deadline = Date.now() + 20_000;
    for (;;) {
      result.outcome = (await exchange(get(`/outcome/${args[0]}`))).body.toString().trim();
      if (result.outcome !== 'pending' || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } else throw new Error(`unknown ending ${ending}`);
  console.log(JSON.stringify({ ...result, bytes: answer.body.length, sha256: sha256(answer.body), ended: answer.ended }));
}

main().catch((error) => {
  console.error(error.stack);
  process.exit(1);
});

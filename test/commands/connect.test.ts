import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { proxyExportLine } from '../../src/commands/connect.js';

test('the printed export line sets every proxy variable in both cases, as tp run does', async (t) => {
  const line = proxyExportLine({ http: '127.0.0.1:8080', socks: '127.0.0.1:1080' });
  const names = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy'];
  const script = `${line}; for n in ${names.join(' ')}; do eval "echo $n=\\$$n"; done`;
  const { stdout } = await promisify(execFile)('sh', ['-c', script], { env: { PATH: process.env.PATH } });
  t.deepEqual(stdout.trim().split('\n'), [
    'HTTP_PROXY=http://127.0.0.1:8080',
    'http_proxy=http://127.0.0.1:8080',
    'HTTPS_PROXY=http://127.0.0.1:8080',
    'https_proxy=http://127.0.0.1:8080',
    'ALL_PROXY=socks5h://127.0.0.1:1080',
    'all_proxy=socks5h://127.0.0.1:1080',
    'NO_PROXY=localhost,127.0.0.1,::1',
    'no_proxy=localhost,127.0.0.1,::1',
  ]);
});

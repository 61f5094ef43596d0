// The routes file Docker mode's companion writes for `tp run`'s shims on the host: the daemon's
// ranges and name socket (at the host's path), the companion's own token, ports and resolvers.
import test from 'ava';
import { hostRoutes } from '../../src/docker/host-shims.js';

test('the host\'s routes file keeps the daemon\'s ranges and name socket and puts this side\'s token, ports and resolvers in', (t) => {
  const daemon = ['tp-routes 1', 'token daemons-own', 'redirect 40001', 'handover 40002', 'dns 40003', 'query /tp/state/tp/daemon-default.names.sock', 'cidr 10.96.0.0/12', 'cidr 10.244.0.0/16', 'exclude 10.96.0.10/32', 'nameserver 10.88.0.1', 'future-line x', ''].join('\n');
  const text = hostRoutes(daemon, { token: 'ours', redirectPort: 5001, handoverPort: 5002, dnsPort: 5003, nameservers: ['192.0.2.53'], hostPath: (path) => path.replace(/^\/tp\//, '/home/u/.local/state/tp/docker/x/') });
  t.is(
    text,
    ['tp-routes 1', 'token ours', 'redirect 5001', 'handover 5002', 'dns 5003', 'query /home/u/.local/state/tp/docker/x/state/tp/daemon-default.names.sock', 'cidr 10.96.0.0/12', 'cidr 10.244.0.0/16', 'exclude 10.96.0.10/32', 'nameserver 192.0.2.53', ''].join('\n'),
  );
});

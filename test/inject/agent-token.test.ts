import test from 'ava';
import { agentToken, tunnelAuthenticator } from '../../src/inject/agent-token.js';

test('the client token is a client; an agent token is an agent bound to its namespace; anything else is refused', async (t) => {
  const authenticate = tunnelAuthenticator('client-secret');
  t.deepEqual(await authenticate('client-secret'), { role: 'client', via: 'token' });
  t.deepEqual(await authenticate(agentToken('client-secret', 'team-a')), { role: 'agent', via: 'token', namespace: 'team-a' });
  t.regex(agentToken('client-secret', 'team-a'), /^agent\.team-a\.[A-Za-z0-9_-]{43}$/);
  t.is(await authenticate(agentToken('other-secret', 'team-a')), null);
  const forged = agentToken('client-secret', 'team-a').replace('agent.team-a.', 'agent.team-b.');
  t.is(await authenticate(forged), null, 'a token for one namespace does not work for another');
  t.is(await authenticate('agent.Bad_NS.x'), null);
  t.is(await authenticate('nope'), null);
});

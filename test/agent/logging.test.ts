import test from 'ava';
import { captureLogs } from '../helpers/capture-logs.js';
import { startAgentRig } from './helpers/agent.js';
import { AGENT_TOKEN } from './helpers/fake-manager.js';
import { get, startNamedHttpServer } from './helpers/servers.js';

test('logs follow a connection by id and name environment keys but never values or the token', async (t) => {
  const lines = captureLogs(t);
  const app = await startNamedHttpServer(t, 'app');
  const laptop = await startNamedHttpServer(t, 'laptop');
  const { manager, agentPorts } = await startAgentRig(t, [app.port], { environment: { DATABASE_PASSWORD: 'hunter2-secret-value' } });
  await manager.setIntercepts([{ id: 'alice', name: 'hello', mode: 'personal', containerPort: app.port, client: 'a@l', headers: { 'x-dev': 'alice' }, laptopPort: laptop.port }]);
  await get(agentPorts[0], '/one', { headers: { 'x-dev': 'alice' } });
  const all = lines.join('\n');
  t.regex(all, /DATABASE_PASSWORD/);
  t.false(all.includes('hunter2-secret-value'));
  t.false(all.includes(AGENT_TOKEN));
  t.regex(all, /-> (c\d+)\.1 GET \/one → intercept alice/);
  const id = /-> (c\d+)\.1 GET/.exec(all)?.[1];
  t.regex(all, new RegExp(`-> ${id} 127\\.0\\.0\\.1:\\d+ → http router`));
});

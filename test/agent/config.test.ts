import test from 'ava';
import { AgentConfigError, appEnvironment, parseAgentConfig, parsePorts } from '../../src/agent/config.js';

const valid = {
  TP_AGENT_MANAGER_URL: 'ws://traffic-manager.tp.svc.cluster.local:8081/tunnel',
  TP_AGENT_TOKEN: 'agent.default.c2VjcmV0',
  TP_AGENT_WORKLOAD: 'Deployment/hello',
  TP_AGENT_CONTAINER: 'hello',
  TP_AGENT_NAMESPACE: 'default',
  TP_AGENT_POD: 'hello-7d9c-abcde',
  TP_AGENT_POD_IP: '10.1.0.7',
  TP_AGENT_PORTS: '[{"name":"http","agentPort":9900,"appPort":8080},{"agentPort":9901,"appPort":9000}]',
  GREETING: 'hello from a ConfigMap',
  POD_NAME: 'hello-7d9c-abcde',
};

test('reads every setting of the agent contract from the environment', (t) => {
  const config = parseAgentConfig(valid);
  t.is(config.managerUrl, valid.TP_AGENT_MANAGER_URL);
  t.deepEqual(config.workload, { kind: 'Deployment', name: 'hello', namespace: 'default' });
  t.is(config.container, 'hello');
  t.is(config.pod, 'hello-7d9c-abcde');
  t.is(config.podIp, '10.1.0.7');
  t.deepEqual(config.ports, [
    { name: 'http', agentPort: 9900, appPort: 8080 },
    { agentPort: 9901, appPort: 9000 },
  ]);
});

test('the reported environment is the app env without any TP_AGENT_ variable', (t) => {
  const config = parseAgentConfig(valid);
  t.deepEqual(config.environment, { GREETING: 'hello from a ConfigMap', POD_NAME: 'hello-7d9c-abcde' });
  t.deepEqual(appEnvironment({ TP_AGENT_X: '1', TP_OTHER: '2', A: '3', B: undefined }), { TP_OTHER: '2', A: '3' });
});

const broken: [string, Record<string, string | undefined>, RegExp][] = [
  ['a missing token', { TP_AGENT_TOKEN: undefined }, /TP_AGENT_TOKEN: is not set/],
  ['an http:// manager URL', { TP_AGENT_MANAGER_URL: 'http://manager:8081/' }, /ws:\/\/ or wss:\/\//],
  ['a manager URL that is no URL', { TP_AGENT_MANAGER_URL: 'not a url' }, /is not a URL/],
  ['a workload without a kind', { TP_AGENT_WORKLOAD: 'hello' }, /<Kind>\/<name>/],
  ['a workload of an unknown kind', { TP_AGENT_WORKLOAD: 'DaemonSet/hello' }, /Kind one of Deployment, StatefulSet, ReplicaSet/],
  ['ports that are not JSON', { TP_AGENT_PORTS: '9900:8080' }, /is not JSON/],
  ['an empty port list', { TP_AGENT_PORTS: '[]' }, /non-empty JSON array/],
  ['an agent port out of range', { TP_AGENT_PORTS: '[{"agentPort":70000,"appPort":8080}]' }, /no valid agentPort/],
  ['a port given as a string', { TP_AGENT_PORTS: '[{"agentPort":"9900","appPort":8080}]' }, /no valid agentPort/],
  ['a duplicate agent port', { TP_AGENT_PORTS: '[{"agentPort":9900,"appPort":8080},{"agentPort":9900,"appPort":8081}]' }, /listed twice/],
  ['the same port for agent and app', { TP_AGENT_PORTS: '[{"agentPort":8080,"appPort":8080}]' }, /both the agent and the app/],
  ['an agent port that is another entry\'s app port', { TP_AGENT_PORTS: '[{"agentPort":9900,"appPort":8080},{"agentPort":9901,"appPort":9900}]' }, /agentPort 9900 is also an appPort/],
  ['a name listed twice', { TP_AGENT_PORTS: '[{"name":"http","agentPort":9900,"appPort":8080},{"name":"http","agentPort":9901,"appPort":8081}]' }, /name "http" is listed twice/],
  ['a health port that is no number', { TP_AGENT_HEALTH_PORT: '99x' }, /TP_AGENT_HEALTH_PORT: needs a port number/],
  ['a health port out of range', { TP_AGENT_HEALTH_PORT: '70000' }, /TP_AGENT_HEALTH_PORT: needs a port number/],
  ['a health port that is also an agent port', { TP_AGENT_HEALTH_PORT: '9901' }, /TP_AGENT_HEALTH_PORT: port 9901 is also in TP_AGENT_PORTS/],
];

test('the health port is read when set, and absent (an agent injected before it existed) when not', (t) => {
  t.is(parseAgentConfig({ ...valid, TP_AGENT_HEALTH_PORT: '9899' }).healthPort, 9899);
  t.false('healthPort' in parseAgentConfig(valid));
});

for (const [what, change, message] of broken) {
  test(`refuses ${what} with an error naming the variable`, (t) => {
    const error = t.throws(() => parseAgentConfig({ ...valid, ...change }), { instanceOf: AgentConfigError });
    t.is(error?.code, 'TP_ERR_AGENT_CONFIG');
    t.regex(error?.message ?? '', message);
    t.true(error!.hints.length > 0);
  });
}

test('a config error never contains the token', (t) => {
  const error = t.throws(() => parseAgentConfig({ ...valid, TP_AGENT_PORTS: 'nope' }));
  t.false(JSON.stringify({ message: error?.message, hints: (error as AgentConfigError).hints }).includes(valid.TP_AGENT_TOKEN));
});

test('agent port 0 is allowed only when asked for (tests bind free ports)', (t) => {
  t.throws(() => parsePorts('[{"agentPort":0,"appPort":8080}]'), { instanceOf: AgentConfigError });
  t.deepEqual(parsePorts('[{"agentPort":0,"appPort":8080}]', { allowAnyAgentPort: true }), [{ agentPort: 0, appPort: 8080 }]);
});

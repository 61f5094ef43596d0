// A small traffic-manager for agent tests, made of the real tunnel server: it authenticates the
// agent token, answers AgentMethod.hello and AgentMethod.ready (recording both), sends
// InterceptEvent.agentIntercepts (on hello and whenever the test changes the list), and accepts
// the agent's intercept streams by dialling the intercept's "laptop" port on 127.0.0.1 — so a
// laptop that listens nowhere gets a real `refused` open-error. Leaves out clients, sessions
// and injection (the manager proper).
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { AgentMethod, INTERCEPT_STREAM_HOST, InterceptEvent, type AgentHelloParams, type AgentInterceptsBody, type AgentReadyParams } from '../../../src/api/control-api.js';
import { acceptByDialing, tokenAuthenticator, TunnelServer, type IncomingOpen, type Session } from '../../../src/tunnel/index.js';

export const AGENT_TOKEN = 'agent.default.test-token-value';

export type TestIntercept = AgentInterceptsBody['intercepts'][number] & { laptopPort: number };

export interface StreamRecord {
  intercept: unknown;
  peer: unknown;
}

export class FakeManager extends EventEmitter {
  readonly hellos: AgentHelloParams[] = [];
  readonly readies: AgentReadyParams[] = [];
  readonly streams: StreamRecord[] = [];
  private intercepts: TestIntercept[] = [];
  /** Kept so restart() can listen on the same port after the server stopped. */
  readonly port: number;

  private constructor(private server: TunnelServer<string>) {
    super();
    this.port = server.port;
    this.attach(server);
  }

  static async start(port = 0): Promise<FakeManager> {
    return new FakeManager(await FakeManager.listen(port));
  }

  private static listen(port: number): Promise<TunnelServer<string>> {
    return TunnelServer.listen({ authenticate: tokenAuthenticator(AGENT_TOKEN, 'agent'), port, session: { pingIntervalMs: 200, deadPeerTimeoutMs: 1000 } });
  }

  get url(): string {
    return this.server.url;
  }

  get sessions(): Session[] {
    return [...this.server.sessions];
  }

  /** Replaces the list and sends it to every connected agent; resolves when an agent confirmed exactly these ids. */
  async setIntercepts(intercepts: TestIntercept[]): Promise<void> {
    this.intercepts = intercepts;
    const ids = intercepts.map((i) => i.id).join(',');
    const confirmed = this.waitFor('ready', (ready: AgentReadyParams) => ready.ids.join(',') === ids);
    for (const session of this.server.sessions) this.sendList(session);
    await confirmed;
  }

  /** Sends any body as the intercept list (for malformed-input tests). */
  sendRaw(body: unknown): void {
    for (const session of this.server.sessions) session.notify(InterceptEvent.agentIntercepts, body);
  }

  waitFor<T>(event: 'hello' | 'ready', predicate: (value: T) => boolean = () => true, timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off(event, listener);
        reject(new Error(`no ${event} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (value: T): void => {
        if (!predicate(value)) return;
        clearTimeout(timer);
        this.off(event, listener);
        resolve(value);
      };
      this.on(event, listener);
    });
  }

  /** The manager goes away: every tunnel ends and nothing listens until restart(). */
  async stop(): Promise<void> {
    await this.server.destroy();
  }

  /** A new manager process on the same port, with the same intercept list. */
  async restart(): Promise<void> {
    this.server = await FakeManager.listen(this.port);
    this.attach(this.server);
  }

  private attach(server: TunnelServer<string>): void {
    server.on('session', (session) => {
      session.handle(AgentMethod.hello, (params) => {
        this.hellos.push(params as AgentHelloParams);
        setImmediate(() => {
          if (session.live) this.sendList(session);
          this.emit('hello', params);
        });
        return { ok: true };
      });
      session.handle(AgentMethod.ready, (params) => {
        this.readies.push(params as AgentReadyParams);
        this.emit('ready', params);
        return {};
      });
      session.on('stream', (open: IncomingOpen) => this.onStream(open));
    });
  }

  private sendList(session: Session): void {
    const body: AgentInterceptsBody = { intercepts: this.intercepts.map(({ laptopPort: _laptopPort, ...rule }) => rule) };
    session.notify(InterceptEvent.agentIntercepts, body);
  }

  private onStream(open: IncomingOpen): void {
    const intercept = this.intercepts.find((i) => i.id === open.metadata.intercept);
    if (open.host !== INTERCEPT_STREAM_HOST || !intercept) return open.reject('forbidden', `no intercept ${String(open.metadata.intercept)}`);
    this.streams.push({ intercept: open.metadata.intercept, peer: open.metadata.peer });
    void acceptByDialing(open, { dial: () => net.connect({ host: '127.0.0.1', port: intercept.laptopPort }) });
  }
}

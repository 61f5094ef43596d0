// Which client sessions ingest which workloads (`tp ingest`): an ingest lets its session open
// volume streams to the workload's agents, as an intercept does, and routes no traffic. The book
// forgets a session's ingests when the session expires. Used by intercept-service.ts.
export class IngestBook {
  private readonly bySession = new Map<string, Set<string>>();

  add(sessionId: string, workloadKey: string): void {
    let keys = this.bySession.get(sessionId);
    if (!keys) this.bySession.set(sessionId, (keys = new Set()));
    keys.add(workloadKey);
  }

  remove(sessionId: string, workloadKey: string): boolean {
    const keys = this.bySession.get(sessionId);
    const removed = keys?.delete(workloadKey) ?? false;
    if (keys?.size === 0) this.bySession.delete(sessionId);
    return removed;
  }

  has(sessionId: string, workloadKey: string): boolean {
    return this.bySession.get(sessionId)?.has(workloadKey) ?? false;
  }

  forget(sessionId: string): void {
    this.bySession.delete(sessionId);
  }
}

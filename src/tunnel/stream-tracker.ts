// Remembers which stream ids were ever opened and how recently closed ones ended, so the session
// can tell a frame that merely crossed a RESET in flight (ignored) from one that breaks the
// protocol (an id reused, DATA after the peer's own FIN or RESET, frames on a never-opened
// stream). Only the last RECENT_STREAMS closed ids are remembered; older ones are ignored.
import { protocolError } from './errors.js';
import { isOpenedBy, type Role } from './protocol.js';

const RECENT_STREAMS = 4096;

export class StreamTracker {
  private lastOwnId = 0;
  private lastPeerId = 0;
  /** Closed stream id → whether the peer had ended it (sent FIN+saw ours, RESET, or was refused). */
  private readonly recent = new Map<number, boolean>();
  /** The ids in `recent`, oldest first from `next` round: which one to forget costs no iterator. */
  private readonly order = new Uint32Array(RECENT_STREAMS);
  private next = 0;

  constructor(private readonly role: Role) {}

  openedByUs(streamId: number): void {
    this.lastOwnId = streamId;
  }

  peerOpened(streamId: number): void {
    if (isOpenedBy(this.role, streamId)) throw protocolError(`peer opened stream ${streamId}, an id of this side's parity`);
    if (streamId <= this.lastPeerId) throw protocolError(`stream id ${streamId} reused (last opened ${this.lastPeerId})`);
    this.lastPeerId = streamId;
  }

  closed(streamId: number, peerEnded: boolean): void {
    if (!this.recent.has(streamId)) {
      if (this.recent.size >= RECENT_STREAMS) this.recent.delete(this.order[this.next]);
      this.order[this.next] = streamId;
      this.next = (this.next + 1) % RECENT_STREAMS;
    }
    this.recent.set(streamId, peerEnded);
  }

  /** A frame for a stream that is not open: throws if that breaks the protocol, else returns (ignore it). */
  checkLateFrame(streamId: number, kind: string, notYetOpen = false): void {
    if (notYetOpen) throw protocolError(`${kind} on stream ${streamId} before its open was answered`);
    const ours = isOpenedBy(this.role, streamId);
    if ((kind === 'open-ok' || kind === 'open-error') && !ours) throw protocolError(`${kind} for stream ${streamId}, which the peer opened`);
    const known = ours ? streamId <= this.lastOwnId : streamId <= this.lastPeerId;
    if (!known) throw protocolError(`${kind} on stream ${streamId}, which was never opened`);
    if ((kind === 'data' || kind === 'fin') && this.recent.get(streamId) === true) {
      throw protocolError(`${kind} on stream ${streamId} after it was ended`);
    }
  }
}

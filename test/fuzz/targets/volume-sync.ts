// Fuzz target: the volume sync stream (src/volumes/sync-frames.ts), what a laptop reads from an
// agent and an agent from a laptop. Contract: the decoder returns frames or throws
// SyncFormatError, never anything else; cutting the bytes anywhere gives the same frames (or the
// same refusal); every
// path it returns is a clean relative path (no `..`, `.`, empty segment or NUL) and every mount
// path a clean absolute one; a mode is within 0-07777; and each frame encodes back to bytes that
// decode to the same frame.
import { encodeSyncFrame, SyncDecoder, SyncFormatError, type SyncFrame } from '../../../src/volumes/sync-frames.js';
import { check, chunks, expectTyped } from '../contract.js';

export const covers = ['src/volumes/sync-frames.ts'];

function decodeAll(parts: Buffer[]): { frames: SyncFrame[]; error?: string } {
  const decoder = new SyncDecoder();
  const frames: SyncFrame[] = [];
  try {
    for (const part of parts) frames.push(...decoder.push(part));
  } catch (error) {
    expectTyped(error, (e) => e instanceof SyncFormatError, 'SyncDecoder.push');
    return { frames, error: (error as Error).message };
  }
  return { frames };
}

const clean = (path: string): boolean => path.length > 0 && !path.includes('\0') && path.split('/').every((s) => s !== '' && s !== '.' && s !== '..');

export function fuzz(data: Buffer): void {
  const whole = decodeAll([data]);
  const cut = decodeAll(chunks(data, data.length % 11));
  // A chunk with a bad frame throws away the frames of the same push, so after an error only the verdict must agree.
  check((whole.error === undefined) === (cut.error === undefined), 'cutting the bytes changed the verdict');
  if (whole.error === undefined) check(JSON.stringify(whole.frames) === JSON.stringify(cut.frames), 'cutting the bytes changed the frames');
  for (const frame of whole.frames) {
    if ('p' in frame) check(clean(frame.p), `path ${JSON.stringify(frame.p)}`);
    if ('mode' in frame) check(frame.mode >= 0 && frame.mode <= 0o7777, `mode ${frame.mode}`);
    if (frame.t === 'mounts') for (const m of frame.mounts) check(m.path.startsWith('/') && clean(m.path.slice(1)), `mount ${m.path}`);
    if (frame.t === 'hello') for (const p of frame.exclude) check(p.startsWith('/') && clean(p.slice(1)), `exclude ${p}`);
    const again = new SyncDecoder().push(encodeSyncFrame(frame));
    check(again.length === 1 && JSON.stringify(again[0]) === JSON.stringify(frame), `round trip of ${frame.t}`);
  }
}

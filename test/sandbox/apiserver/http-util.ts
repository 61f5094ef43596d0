// Small HTTP helpers for the handlers: reading a size-limited request body, parsing it as a JSON
// object, and writing JSON or Status replies. Used by router.ts and the subresource handlers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiStatusError, badRequest, toApiStatusError } from './status-errors.js';
import { decodeProtobufObject, PROTOBUF_CONTENT_TYPE } from './protobuf.js';

/** Upstream's limit for a request body is 3 MiB; the sandbox keeps the same. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ApiStatusError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The body as a JSON object; kubectl's protobuf bodies (see protobuf.ts) are decoded too. */
export function parseJsonObject(body: Buffer, contentType?: string): Record<string, unknown> {
  if (body.length === 0) throw badRequest('the request body is empty');
  if (contentType?.split(';')[0].trim().toLowerCase() === PROTOBUF_CONTENT_TYPE) return decodeProtobufObject(body);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw badRequest(`the object provided is unrecognized: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badRequest('the request body must be a JSON object');
  return value as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

export function sendError(res: ServerResponse, error: unknown): void {
  const status = toApiStatusError(error);
  sendJson(res, status.httpCode, status.toStatus());
}

export function sendText(res: ServerResponse, code: number, text: string): void {
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

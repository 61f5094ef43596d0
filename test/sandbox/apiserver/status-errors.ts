// Kubernetes `Status` errors: the one error type every handler throws, and the JSON body the real
// kube-apiserver sends for it (kind Status, reason, code, details.causes). Messages follow the
// upstream wording so clients that match on them (kubectl, client-node callers) behave the same.
// Leaves out: protobuf encoding. Used by every module of the sandbox API server.
export type StatusReason =
  | 'BadRequest' | 'Unauthorized' | 'Forbidden' | 'NotFound' | 'AlreadyExists' | 'Conflict'
  | 'Gone' | 'Expired' | 'Invalid' | 'MethodNotAllowed' | 'UnsupportedMediaType' | 'NotAcceptable'
  | 'InternalError' | 'Timeout' | 'RequestEntityTooLarge' | 'TooManyRequests';

export interface StatusCause { reason: string; message: string; field?: string }

export interface StatusDetails { name?: string; group?: string; kind?: string; causes?: StatusCause[]; uid?: string }

/** An API error that becomes a `Status` reply; `code` is the stable `APISERVER_<REASON>` code. */
export class ApiStatusError extends Error {
  readonly code: string;

  constructor(
    readonly httpCode: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.code = `APISERVER_${reason.toUpperCase()}`;
    this.name = 'ApiStatusError';
  }

  toStatus(): Record<string, unknown> {
    return statusObject(this.httpCode, this.reason, this.message, this.details);
  }
}

export function statusObject(code: number, reason: StatusReason | undefined, message: string, details?: StatusDetails): Record<string, unknown> {
  const body: Record<string, unknown> = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message };
  if (reason !== undefined) body.reason = reason;
  if (details !== undefined) body.details = details;
  body.code = code;
  return body;
}

/** `pods "x"`, `deployments.apps "x"`: how upstream names a resource in messages. */
export function qualifiedResource(group: string, resource: string): string {
  return group === '' ? resource : `${resource}.${group}`;
}

export function notFound(group: string, resource: string, name: string): ApiStatusError {
  return new ApiStatusError(404, 'NotFound', `${qualifiedResource(group, resource)} "${name}" not found`, {
    name, ...(group === '' ? {} : { group }), kind: resource,
  });
}

export function alreadyExists(group: string, resource: string, name: string): ApiStatusError {
  return new ApiStatusError(409, 'AlreadyExists', `${qualifiedResource(group, resource)} "${name}" already exists`, {
    name, ...(group === '' ? {} : { group }), kind: resource,
  });
}

export function conflict(group: string, resource: string, name: string): ApiStatusError {
  return new ApiStatusError(409, 'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(group, resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, ...(group === '' ? {} : { group }), kind: resource });
}

/** 422 with one cause per field, message `Kind "name" is invalid: [field: Reason, …]`. */
export function invalid(group: string, kind: string, name: string, causes: StatusCause[]): ApiStatusError {
  const parts = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const summary = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  return new ApiStatusError(422, 'Invalid', `${kind}${group === '' ? '' : `.${group}`} "${name}" is invalid: ${summary}`, {
    name, ...(group === '' ? {} : { group }), kind, causes,
  });
}

export function badRequest(message: string): ApiStatusError {
  return new ApiStatusError(400, 'BadRequest', message);
}

export function gone(message: string): ApiStatusError {
  return new ApiStatusError(410, 'Expired', message);
}

export function methodNotAllowed(message: string): ApiStatusError {
  return new ApiStatusError(405, 'MethodNotAllowed', message);
}

export function unsupportedMediaType(contentType: string, supported: string[]): ApiStatusError {
  return new ApiStatusError(415, 'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${supported.join(', ')}` +
    (contentType ? ` (got ${contentType})` : ''));
}

/** Any thrown value as a Status error; unknown errors become 500 InternalError. */
export function toApiStatusError(error: unknown): ApiStatusError {
  if (error instanceof ApiStatusError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ApiStatusError(500, 'InternalError', `Internal error occurred: ${message}`);
}

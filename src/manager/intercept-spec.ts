// Checks an intercept.create request from a client before anything is looked up: types, sizes
// and shapes (header names are HTTP tokens; the local address is an address or host name).
// Bad input gets a TP_ERR_INTERCEPT_BAD_SPEC naming the field. Used by intercept-service.ts.
import type { InterceptSpec } from '../api/control-api.js';
import { InterceptError } from '../inject/intercept-errors.js';

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_HEADERS = 16;
const MAX_TEXT = 256;

export function validateSpec(params: unknown): InterceptSpec {
  const p = (params ?? {}) as Record<string, unknown>;
  const bad = (message: string): never => {
    throw new InterceptError('TP_ERR_INTERCEPT_BAD_SPEC', message);
  };
  const text = (name: string, required: boolean): string | undefined => {
    const value = p[name];
    if (value === undefined || value === null || value === '') return required ? bad(`the intercept needs a ${name}`) : undefined;
    if (typeof value !== 'string' || value.length > MAX_TEXT) return bad(`${name} must be a string of at most ${MAX_TEXT} characters`);
    return value;
  };
  const laptopPort = p.laptopPort;
  if (typeof laptopPort !== 'number' || !Number.isInteger(laptopPort) || laptopPort < 1 || laptopPort > 65535) bad('laptopPort must be a port number (1-65535)');
  let headers: Record<string, string> | undefined;
  if (p.headers !== undefined && p.headers !== null) {
    if (typeof p.headers !== 'object' || Array.isArray(p.headers)) bad('headers must be an object of name → value');
    const entries = Object.entries(p.headers as Record<string, unknown>);
    if (entries.length > MAX_HEADERS) bad(`at most ${MAX_HEADERS} headers`);
    for (const [name, value] of entries) {
      if (!TOKEN.test(name)) bad(`"${name}" is not a valid HTTP header name`);
      if (typeof value !== 'string' || value.length > MAX_TEXT || /[\r\n\0]/.test(value)) bad(`the value of header ${name} must be one line of text`);
    }
    headers = entries.length > 0 ? (p.headers as Record<string, string>) : undefined;
  }
  const pathPrefix = text('pathPrefix', false);
  if (pathPrefix !== undefined && !pathPrefix.startsWith('/')) bad('pathPrefix must start with "/"');
  if (p.keepFailedInjection !== undefined && typeof p.keepFailedInjection !== 'boolean') bad('keepFailedInjection must be true or false');
  const laptopAddress = text('laptopAddress', false) ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:_-]+$/.test(laptopAddress)) bad(`"${laptopAddress}" is not an address`);
  return {
    name: text('name', false),
    workload: text('workload', true)!,
    namespace: text('namespace', true)!,
    service: text('service', false),
    servicePort: text('servicePort', false),
    laptopAddress,
    laptopPort: laptopPort as number,
    headers,
    pathPrefix,
    ...(p.keepFailedInjection === true && { keepFailedInjection: true }),
  };
}

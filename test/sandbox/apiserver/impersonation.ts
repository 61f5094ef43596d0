// User impersonation (`Impersonate-User`, `Impersonate-Group` headers, as `kubectl --as/--as-group`
// send): the caller needs the `impersonate` verb on users/groups (or serviceaccounts), then the
// request runs as the named user. Leaves out: Impersonate-Uid and Impersonate-Extra-*.
// Used by server.ts.
import type { IncomingHttpHeaders } from 'node:http';
import type { UserInfo } from './auth.js';
import type { Authorizer } from './rbac.js';

function headerValues(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : value.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

export function impersonate(authorizer: Authorizer, user: UserInfo, headers: IncomingHttpHeaders): UserInfo {
  const target = headers['impersonate-user'];
  const groups = headerValues(headers['impersonate-group']);
  if (typeof target !== 'string' || target === '') return user;
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(target);
  const check = (resource: string, name: string, namespace?: string): void =>
    authorizer.authorize({ user, verb: 'impersonate', resourceRequest: true, path: '', apiGroup: '', resource, name, namespace });
  if (sa) check('serviceaccounts', sa[2], sa[1]);
  else check('users', target);
  for (const group of groups) check('groups', group);
  const impliedGroups = sa ? ['system:serviceaccounts', `system:serviceaccounts:${sa[1]}`] : [];
  return { username: target, groups: [...new Set([...groups, ...impliedGroups, 'system:authenticated'])] };
}

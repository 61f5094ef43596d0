// Bearer-token authentication: the admin token and service-account tokens. SA tokens are JWTs
// (HS256 over the sandbox signing key) naming namespace, SA name and uid, an expiry, and for
// legacy Secret-bound tokens the Secret; a token whose SA (or Secret) is gone or was recreated
// with a new uid is rejected (401). A request with no bearer token is anonymous, as with the
// API server's default --anonymous-auth=true: user system:anonymous in group
// system:unauthenticated, and RBAC decides (usually 403). Leaves out: client certificates, OIDC,
// impersonation (impersonation.ts).
// Used by server.ts (every request), reviews.ts (TokenReview) and service-account-tokens.ts.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ApiStatusError } from './status-errors.js';
import type { Store } from './store.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export const ADMIN_USER = 'sandbox-admin';
export const ANONYMOUS: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'] };
export const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const DEFAULT_AUDIENCES = [ISSUER];

interface ServiceAccountClaims {
  iss: string;
  sub: string;
  aud: string[];
  iat: number;
  nbf: number;
  exp?: number;
  'kubernetes.io': {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    secret?: { name: string; uid: string };
  };
}

export interface IssueTokenRequest {
  namespace: string;
  name: string;
  uid: string;
  /** Omitted for legacy Secret tokens, which never expire. */
  expirationSeconds?: number;
  audiences?: string[];
  secret?: { name: string; uid: string };
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export class TokenAuthority {
  constructor(
    private readonly adminToken: string,
    private readonly signingKey: Buffer,
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  issue(request: IssueTokenRequest): { token: string; expirationTimestamp?: string } {
    const iat = Math.floor(this.now() / 1000);
    const claims: ServiceAccountClaims = {
      iss: ISSUER,
      sub: `system:serviceaccount:${request.namespace}:${request.name}`,
      aud: request.audiences && request.audiences.length > 0 ? request.audiences : DEFAULT_AUDIENCES,
      iat,
      nbf: iat,
      'kubernetes.io': {
        namespace: request.namespace,
        serviceaccount: { name: request.name, uid: request.uid },
        ...(request.secret ? { secret: request.secret } : {}),
      },
    };
    if (request.expirationSeconds !== undefined) claims.exp = iat + request.expirationSeconds;
    const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const payload = base64url(JSON.stringify(claims));
    const signature = this.sign(`${header}.${payload}`);
    return {
      token: `${header}.${payload}.${signature}`,
      ...(claims.exp === undefined ? {} : { expirationTimestamp: new Date(claims.exp * 1000).toISOString().replace(/\.\d+Z$/, 'Z') }),
    };
  }

  /** The user a token stands for, or undefined when it is not valid now. */
  verify(token: string): (UserInfo & { audiences?: string[] }) | undefined {
    if (token.length === this.adminToken.length && timingSafeEqual(Buffer.from(token), Buffer.from(this.adminToken))) {
      return { username: ADMIN_USER, groups: ['system:masters', 'system:authenticated'] };
    }
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const expected = Buffer.from(this.sign(`${parts[0]}.${parts[1]}`));
    const given = Buffer.from(parts[2]);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    let claims: ServiceAccountClaims;
    try {
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as ServiceAccountClaims;
    } catch {
      return undefined;
    }
    const k8s = claims['kubernetes.io'];
    if (!k8s?.serviceaccount) return undefined;
    if (claims.exp !== undefined && claims.exp * 1000 <= this.now()) return undefined;
    const sa = this.store.get('/serviceaccounts', k8s.namespace, k8s.serviceaccount.name);
    if (!sa || sa.metadata.uid !== k8s.serviceaccount.uid) return undefined;
    if (k8s.secret) {
      const secret = this.store.get('/secrets', k8s.namespace, k8s.secret.name);
      if (!secret || secret.metadata.uid !== k8s.secret.uid) return undefined;
    }
    return {
      username: `system:serviceaccount:${k8s.namespace}:${k8s.serviceaccount.name}`,
      uid: k8s.serviceaccount.uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${k8s.namespace}`, 'system:authenticated'],
      audiences: claims.aud,
    };
  }

  /**
   * The user of a request from its Authorization header: anonymous without a bearer token (other
   * schemes, such as Basic, have no authenticator and fall through to anonymous too, as upstream);
   * 401 Status for a bearer token that is not valid.
   */
  authenticate(authorization: string | undefined): UserInfo {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) return { ...ANONYMOUS, groups: [...ANONYMOUS.groups] };
    const user = this.verify(match[1]);
    if (!user) throw new ApiStatusError(401, 'Unauthorized', 'Unauthorized');
    const { audiences: _audiences, ...info } = user;
    return info;
  }

  private sign(input: string): string {
    return createHmac('sha256', this.signingKey).update(input).digest('base64url');
  }
}

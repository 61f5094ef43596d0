// Takes secrets out of text before it goes into a gathered archive. Two nets: the secrets tp knows
// (the door secret, the client and agent tokens, the environment values of intercepted pods),
// replaced wherever they appear, in the encodings they travel in; and the shapes secrets take in
// logs and URLs (bearer and basic credentials, `key=`/`token=` parameters, a URL's password,
// JSON fields named like secrets, JWTs, agent tokens), for the secrets it does not know.
// The daemon's logs should hold none of these: this is the second line, not the first.

export const REDACTED = '[redacted]';

/** Known values shorter than this are left alone: "true", "8080" or "1" would wreck the text and hide nothing. */
export const MIN_SECRET_LENGTH = 6;

const SHAPES: [RegExp, string][] = [
  // Authorization: Bearer <token>, Proxy-Authorization: Basic <base64>
  [/\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+/gi, `$1$2${REDACTED}`],
  // scheme://user:password@host
  [/([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):[^\s@/]*@/gi, `$1:${REDACTED}@`],
  // key=…, token=…, secret=… in query strings, form bodies and log fields
  [/\b([a-z_-]*(?:key|token|secret|password|passwd|pwd|auth|credential)s?)=(?!\[redacted\])[^\s&"',;#)]+/gi, `$1=${REDACTED}`],
  // "password": "…", "token": "…" in JSON
  [/("[a-z_-]*(?:key|token|secret|password|passwd|auth|credential)s?"\s*:\s*)"(?:[^"\\]|\\.)*"/gi, `$1"${REDACTED}"`],
  // JWTs (service-account tokens)
  [/\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, REDACTED],
  // the agents' tokens (src/inject/agent-token.ts)
  [/\bagent\.[a-z0-9.-]+\.[A-Za-z0-9_-]{43}\b/g, REDACTED],
];

/** `text` with every known secret (in its plain, URL-encoded and base64 forms) and every secret-shaped value replaced. */
export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const secret of secretForms(secrets)) out = out.replaceAll(secret, REDACTED);
  for (const [shape, replacement] of SHAPES) out = out.replace(shape, replacement);
  return out;
}

/** The forms a secret is written in, longest first so that a secret inside another goes with it. */
function secretForms(secrets: Iterable<string>): string[] {
  const forms = new Set<string>();
  for (const secret of secrets) {
    const trimmed = secret.trim();
    if (trimmed.length < MIN_SECRET_LENGTH) continue;
    forms.add(trimmed);
    forms.add(encodeURIComponent(trimmed));
    forms.add(Buffer.from(trimmed).toString('base64'));
    forms.add(JSON.stringify(trimmed).slice(1, -1));
  }
  return [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

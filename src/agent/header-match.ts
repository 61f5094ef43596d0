// Does one HTTP request belong to a personal intercept? All of the intercept's headers must be
// present with exactly the given value (names compared case-insensitively, RFC 9110 §5.1; a
// header sent several times matches when any one of its lines has the value, or when the lines
// joined with ", " do), and the request-target's path must start with pathPrefix. An intercept
// with neither matches every request. Pure functions; the HTTP router (http-router.ts) calls them.
export interface RequestHead {
  /** The request-target as sent: origin-form (`/a?b`) or absolute-form (`http://h/a`). */
  url: string;
  /** Node's rawHeaders: name, value, name, value… with the sender's casing. */
  rawHeaders: string[];
}

/** The path-and-query part of a request-target (absolute-form loses scheme and authority). */
export function requestPath(url: string): string {
  if (url.startsWith('/')) return url;
  const match = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(url);
  if (!match) return url;
  return match[1] === '' || !match[1].startsWith('/') ? `/${match[1]}` : match[1];
}

export function headerValues(rawHeaders: string[], name: string): string[] {
  const wanted = name.toLowerCase();
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === wanted) values.push(rawHeaders[i + 1]);
  }
  return values;
}

/** What a personal intercept matches on (an InterceptRule of intercept-table.ts has these). */
export interface MatchRule {
  headers?: Record<string, string>;
  pathPrefix?: string;
}

export function matchesIntercept(rule: MatchRule, head: RequestHead): boolean {
  if (rule.pathPrefix && !requestPath(head.url).startsWith(rule.pathPrefix)) return false;
  for (const [name, value] of Object.entries(rule.headers ?? {})) {
    const values = headerValues(head.rawHeaders, name);
    if (!values.includes(value) && values.join(', ') !== value) return false;
  }
  return true;
}

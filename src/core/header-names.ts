/**
 * Header names as the upstream's server may read them. CGI (RFC 3875 §4.1.18), WSGI, Rack and
 * FastCGI bridges turn `X-Auth-Request-User` and `X_Auth_Request_User` into the same
 * `HTTP_X_AUTH_REQUEST_USER`, so a name cupbearer guards must be guarded in every spelling.
 */

/** A lower-case header name with `_` read as `-`: the name a CGI-style server will see. */
export function foldHeaderName(lower: string): string {
  return lower.includes("_") ? lower.replaceAll("_", "-") : lower;
}

/**
 * Headers with which common frameworks re-route a request or change its method after the proxy
 * has judged it (Express's method-override, Symfony and IIS's rewrite headers, Envoy's original
 * path). Dropped unless a route lists them in `forwardRewriteHeaders`.
 */
export const REWRITE_HEADERS: readonly string[] = [
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
  "x-original-url",
  "x-rewrite-url",
  "x-envoy-original-path",
];

/**
 * Headers with which an ingress describes, to its auth service, the request it is asking about
 * (nginx `auth_request` set-ups: `X-Original-Method`, `X-Original-URI`; IIS ARR and Azure:
 * `X-Original-Host`). Only the forward-auth endpoint reads such a description, and only from its
 * trusted sources; on the way to an upstream they are a client's claim about another request, so
 * they are always dropped. (`X-Original-URL` is a rewrite header above; every `X-Forwarded-*`,
 * Traefik's and Caddy's `-Method` and `-Uri` among them, is dropped by headers.ts.)
 */
export const INGRESS_DESCRIPTION_HEADERS: readonly string[] = [
  "x-original-method",
  "x-original-uri",
  "x-original-host",
];

import { Refusal } from "../errors.js";

/**
 * A Host value cupbearer will route on (RFC 9112 §3.2, RFC 3986 §3.2.2): a DNS-style name (labels
 * of letters, digits, `-` and `_`, an optional final dot) or a bracketed IPv6 literal, and an
 * optional port. Anything else (`a.com/.example.com`, `x@y`, `a.com?.example.com`) could be read
 * as a different host by the upstream, a cache or a `*.domain` route, so it is refused.
 */
const VALID_HOST =
  /^(?:[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*\.?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

/**
 * The request's one Host header, from Node's rawHeaders (where a repeated Host is still visible),
 * or a `bad_host` Refusal: none, more than one, or not a valid host[:port].
 */
export function requestHost(rawHeaders: readonly string[]): string {
  let host: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length !== 4 || name.toLowerCase() !== "host") continue;
    if (host !== undefined) throw new Refusal("bad_host", "more than one Host header");
    host = rawHeaders[i + 1] as string;
  }
  if (host === undefined) throw new Refusal("bad_host", "no Host header");
  if (host.length > 261 || !VALID_HOST.test(host))
    throw new Refusal("bad_host", "Host is not a valid host[:port]");
  return host;
}

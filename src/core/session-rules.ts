import type { IncomingHttpHeaders } from "node:http";

/**
 * The pure rules of browser sessions: which request is a navigation (sent to sign in) and which
 * gets 401, which return paths are safe to redirect to, and how a sealed session is split into
 * cookies under the browsers' 4 KB limit and joined again. No clock, no crypto, no sockets.
 */

/** Characters of one chunk's value: with name and attributes, a cookie stays under 4096 bytes (RFC 6265 §6.1). */
export const CHUNK_CHARS = 3800;
/** At most this many chunks: a session larger than this is refused, never truncated. */
export const MAX_CHUNKS = 5;
/** The longest return path kept across a sign-in. */
export const MAX_RETURN_PATH = 2048;

/**
 * True for a top-level navigation that a redirect to the sign-in page can serve: a GET or HEAD
 * with `Sec-Fetch-Mode: navigate`, or, from browsers that send no Fetch Metadata, an `Accept`
 * that names `text/html`. fetch/XHR and every other method get 401 instead (ALB does the same).
 */
export function isNavigation(method: string, headers: IncomingHttpHeaders): boolean {
  if (method !== "GET" && method !== "HEAD") return false;
  const mode = headers["sec-fetch-mode"];
  if (mode !== undefined) return mode === "navigate";
  const accept = headers.accept;
  return accept?.toLowerCase().includes("text/html") === true;
}

/**
 * `value` when it is a path on this origin that a browser cannot read as another origin, else
 * undefined: it must start with one `/` (not `//` or `/\`, which browsers read as
 * scheme-relative), hold no backslash, no control character or space, and be short.
 */
export function safeReturnPath(value: string | undefined): string | undefined {
  if (value === undefined || value.length === 0 || value.length > MAX_RETURN_PATH) return undefined;
  if (value.charCodeAt(0) !== 0x2f) return undefined;
  const second = value.charCodeAt(1);
  if (second === 0x2f || second === 0x5c) return undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 0x5c || c > 0x7e) return undefined;
  }
  return value;
}

/** The cookies of a `Cookie` header by name; a name sent twice maps to undefined (which one is real?). */
export function parseCookies(header: string | undefined): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  if (header === undefined) return out;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name === "") continue;
    out.set(name, out.has(name) ? undefined : part.slice(eq + 1).trim());
  }
  return out;
}

/** The name of chunk `i` of the cookie `name`: the name itself, then `name.1`, `name.2`, … */
export function chunkName(name: string, i: number): string {
  return i === 0 ? name : `${name}.${i}`;
}

/** The name of the short-lived cookie that carries a sign-in's state, nonce and PKCE verifier. */
export function signInCookieName(name: string): string {
  return `${name}-signin`;
}

/** True for the session's own cookies (chunks and sign-in state), which the upstream never sees. */
export function isSessionCookie(cookie: string, name: string): boolean {
  if (cookie === name || cookie === signInCookieName(name)) return true;
  if (!cookie.startsWith(`${name}.`)) return false;
  const rest = cookie.slice(name.length + 1);
  return /^[0-9]{1,2}$/.test(rest);
}

/**
 * A sealed value as chunk values: the first says how many there are (`<n>.<part>`), so stale
 * chunks of an older, longer session are never joined in. Undefined when it needs too many.
 */
export function splitChunks(sealed: string): string[] | undefined {
  const count = Math.max(1, Math.ceil(sealed.length / CHUNK_CHARS));
  if (count > MAX_CHUNKS) return undefined;
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(sealed.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS));
  parts[0] = `${count}.${parts[0]}`;
  return parts;
}

/** The sealed value the chunks of `name` carry, or undefined when one is missing, doubled or oversized. */
export function joinChunks(
  cookies: ReadonlyMap<string, string | undefined>,
  name: string,
): string | undefined {
  const first = cookies.get(name);
  if (first === undefined) return undefined;
  const dot = first.indexOf(".");
  const count = Number(first.slice(0, dot));
  if (dot < 1 || !Number.isInteger(count) || count < 1 || count > MAX_CHUNKS) return undefined;
  let sealed = first.slice(dot + 1);
  if (sealed.length > CHUNK_CHARS) return undefined;
  for (let i = 1; i < count; i++) {
    const part = cookies.get(chunkName(name, i));
    if (part === undefined || part.length > CHUNK_CHARS) return undefined;
    sealed += part;
  }
  return sealed;
}

/** The `Cookie` header without the session's cookies (the same string when it has none); undefined when nothing is left. */
export function withoutSessionCookies(header: string, name: string): string | undefined {
  const parts = header.split(";");
  const kept = parts.filter((part) => {
    const eq = part.indexOf("=");
    const cookie = (eq < 0 ? part : part.slice(0, eq)).trim();
    return !isSessionCookie(cookie, name);
  });
  if (kept.length === parts.length) return header;
  const text = kept.map((p) => p.trim()).filter((p) => p !== "");
  return text.length === 0 ? undefined : text.join("; ");
}

/** A `Set-Cookie` value: host-only, whole site, never readable by scripts, not sent on cross-site POSTs. */
export function setCookie(name: string, value: string, maxAgeSeconds: number): string {
  return `${name}=${value}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; HttpOnly; Secure; SameSite=Lax`;
}

/** `Set-Cookie` values that delete each session chunk the browser sent, from chunk `from` on. */
export function clearCookies(
  cookies: ReadonlyMap<string, string | undefined>,
  name: string,
  from = 0,
): string[] {
  const out: string[] = [];
  for (let i = from; i < MAX_CHUNKS; i++) {
    const chunk = chunkName(name, i);
    if (cookies.has(chunk)) out.push(setCookie(chunk, "", 0));
  }
  return out;
}

import { Refusal } from "../errors.js";

/**
 * How common upstream stacks may read a path that cupbearer has normalized by RFC 3986 (path.ts).
 * Routing must give the same route for every reading, or the request is refused: otherwise a
 * servlet container or an IIS-style server could hand it to a handler whose route rules cupbearer
 * never applied.
 *
 * - servlet: Tomcat, Jetty and Spring drop `;params` from each segment before mapping, so
 *   `/admin;x/users` is `/admin/users`, and Tomcat reads `/..;/` as `/../`.
 * - lenient: servers that decode every escape before routing, fold compatibility characters
 *   (a fullwidth solidus `%EF%BC%8F` is `/`), accept overlong UTF-8 (`%C0%AF` is `/`), read `\`
 *   as `/` and trim trailing dots and spaces from names (`/admin./x`, `/admin%20/x`), as
 *   Windows does.
 */

function bad(why: string): never {
  throw new Refusal("bad_path", why);
}

// A normalized path needs another reading only when it holds one of these.
const NEEDS_VIEWS = /[%;]|\.(?:\/|$)/;
// Characters a normalized path keeps raw (path.ts): the unreserved ones, sub-delims, ":" and "@".
const RAW_OK = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/;
const UTF8 = new TextEncoder();

/** Joins segments back into a path; a trailing slash is kept when the last segment was empty. */
function join(segments: readonly string[], trailingSlash: boolean): string {
  const kept = segments.filter((s) => s !== "");
  return `/${kept.join("/")}${trailingSlash && kept.length > 0 ? "/" : ""}`;
}

/**
 * The segment a server reads once it has cut `;params` (and, `lenient`, trimmed trailing dots and
 * spaces). A normalized path has no dot segments, so one that appears now was disguised: refused.
 */
function reading(segment: string, lenient: boolean): string {
  const semi = segment.indexOf(";");
  let s = semi < 0 ? segment : segment.slice(0, semi);
  if (lenient) {
    if (s.trimEnd() === "." || s.trimEnd() === "..") bad("a dot segment in disguise");
    s = s.replace(/[. ]+$/, "");
  }
  if (s === "." || s === "..") bad("a dot segment hidden by path parameters");
  return s;
}

/** `/admin;x/users` → `/admin/users`, as a servlet container maps it. */
export function servletView(path: string): string {
  if (!path.includes(";")) return path;
  const segments = path.split("/").map((s) => reading(s, false));
  return join(segments, segments[segments.length - 1] === "");
}

/** Percent-escapes → bytes → text, accepting the overlong UTF-8 forms old decoders accept. */
function decodeLeniently(path: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) === 37 /* % */) {
      bytes.push(Number.parseInt(path.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(path.charCodeAt(i));
  }
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    const cont = (k: number) => (bytes[i + k] ?? 0) & 0x3f;
    if (b < 0x80) out += String.fromCharCode(b);
    else if (b >= 0xc0 && b < 0xe0 && i + 1 < bytes.length) {
      out += String.fromCharCode(((b & 0x1f) << 6) | cont(1));
      i += 1;
    } else if (b >= 0xe0 && b < 0xf0 && i + 2 < bytes.length) {
      out += String.fromCharCode(((b & 0x0f) << 12) | (cont(1) << 6) | cont(2));
      i += 2;
    } else if (b >= 0xf0 && b < 0xf8 && i + 3 < bytes.length) {
      const cp = ((b & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
      out += cp <= 0x10ffff ? String.fromCodePoint(cp) : "\uFFFD";
      i += 3;
    } else out += "\uFFFD";
  }
  return out;
}

/** Text → the normal form path.ts gives: raw where RFC 3986 allows, else `%XX` upper case. */
function encodeSegment(text: string): string {
  let out = "";
  for (const ch of text) {
    // Letters that case-insensitive comparers fold to ASCII ("ı" to "I", "ſ" to "S") are read as such.
    const upper = ch.toUpperCase();
    if (RAW_OK.test(ch)) out += ch;
    else if (/^[A-Z]+$/.test(upper)) out += upper;
    else for (const b of UTF8.encode(ch)) out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The path as a decoding, compatibility-folding, name-trimming server reads it (in normal form). */
export function lenientView(path: string): string {
  const text = decodeLeniently(path).normalize("NFKC");
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) bad("a control character in an escape");
  }
  const raw = text.split(/[/\\]/);
  const segments = raw.map((s) => encodeSegment(reading(s, true)));
  return join(segments, raw[raw.length - 1] === "");
}

/** The readings of one path besides its own. */
export interface PathReadings {
  /** As a servlet container maps it: `;params` cut. */
  readonly servlet: string;
  /** As a decoding, folding, trimming server reads it (`;params` cut too). */
  readonly lenient: string;
}

/**
 * The readings of `path` (already normalized by path.ts) other than its own; undefined for the
 * paths nearly every request has, which every server reads alike. Throws a `bad_path` Refusal
 * when a reading finds a disguised dot segment.
 */
export function pathReadings(path: string): PathReadings | undefined {
  if (!NEEDS_VIEWS.test(path)) return undefined;
  return { servlet: servletView(path), lenient: lenientView(path) };
}

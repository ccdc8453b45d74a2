import { Refusal } from "../errors.js";

/** A request target split and normalized; `query` keeps its leading `?` (or is empty). */
export interface NormalizedTarget {
  path: string;
  query: string;
}

// RFC 3986 pchar without pct-encoded, plus "/": the only raw characters a path may hold.
const PATH_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/;
// A path already in normal form: no percent escapes, no empty or dot segments.
const ALREADY_NORMAL = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-._~!$&'()*+,;=:@]+)*\/?$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

function bad(why: string): never {
  throw new Refusal("bad_path", why);
}

/**
 * Normalizes the path of an origin-form request target, or refuses it.
 *
 * Percent-escapes of unreserved characters are decoded and the rest upper-cased (RFC 3986 §6.2.2),
 * duplicate slashes merged and dot segments removed (§5.2.4). A path that could mean different
 * things to cupbearer and to the upstream is refused instead: an encoded slash or backslash, a
 * NUL, a raw backslash or other character outside RFC 3986, or `..` that climbs above the root.
 */
export function normalizeTarget(target: string): NormalizedTarget {
  if (target.charCodeAt(0) !== 47 /* / */) bad("request target is not in origin form");
  const q = target.indexOf("?");
  const raw = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? "" : target.slice(q);
  if (ALREADY_NORMAL.test(raw)) return { path: raw, query };
  return { path: normalizePath(raw), query };
}

function normalizePath(raw: string): string {
  let decoded = "";
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charAt(i);
    if (c === "%") {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) bad("malformed percent-encoding");
      const code = Number.parseInt(hex, 16);
      if (code === 0x2f || code === 0x5c || code === 0) bad("encoded slash, backslash or NUL");
      const ch = String.fromCharCode(code);
      decoded += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
      i += 2;
    } else if (PATH_CHAR.test(c)) {
      decoded += c;
    } else {
      bad("character not allowed in a path");
    }
  }

  const out: string[] = [];
  const segments = decoded.split("/");
  for (const seg of segments) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length === 0) bad("path climbs above the root");
      out.pop();
      continue;
    }
    out.push(seg);
  }
  const last = segments[segments.length - 1];
  const trailingSlash = out.length > 0 && (last === "" || last === "." || last === "..");
  return `/${out.join("/")}${trailingSlash ? "/" : ""}`;
}

/** True when `prefix` (normalized, no trailing slash unless it is "/") covers `path` by whole segments. */
export function hasPathPrefix(path: string, prefix: string): boolean {
  if (prefix === "/") return true;
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47);
}

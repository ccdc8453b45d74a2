import t from "tap";
import { hasPathPrefix, normalizeTarget } from "../../src/core/path.js";
import { Refusal } from "../../src/errors.js";

/** The Refusal `fn` throws, or undefined when it returns normally. */
function refusalOf(fn: () => unknown): Refusal | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof Refusal) return err;
    throw err;
  }
  return undefined;
}

t.test("normalizeTarget: normal form", async (t) => {
  const cases: Array<[target: string, path: string, query: string]> = [
    // Already normal: returned as is.
    ["/", "/", ""],
    ["/a/b", "/a/b", ""],
    ["/a/b/", "/a/b/", ""],
    ["/a/b?x=1&y", "/a/b", "?x=1&y"],
    ["/a?", "/a", "?"],
    ["/?q", "/", "?q"],
    ["/...", "/...", ""],
    ["/a/..b/.c", "/a/..b/.c", ""],
    ["/!$&'()*+,;=:@-._~", "/!$&'()*+,;=:@-._~", ""],
    // The query is split off before anything else and kept verbatim.
    ["/a/b?c/../d%2F", "/a/b", "?c/../d%2F"],
    ["/a/./b?x", "/a/b", "?x"],
    // Percent-escapes of unreserved characters are decoded (RFC 3986 §6.2.2.2).
    ["/%41%62c", "/Abc", ""],
    ["/%7e%2D%2e%5f%30", "/~-._0", ""],
    ["/a%2eb", "/a.b", ""],
    // Other escapes are kept, upper-cased (§6.2.2.1).
    ["/a%2a", "/a%2A", ""],
    ["/%c3%a9", "/%C3%A9", ""],
    ["/%25", "/%25", ""],
    ["/%3f", "/%3F", ""],
    ["/%23x", "/%23x", ""],
    ["/%20", "/%20", ""],
    // Empty segments merged.
    ["//", "/", ""],
    ["//a///b//", "/a/b/", ""],
    ["//evil.example/x", "/evil.example/x", ""],
    // Dot segments removed (§5.2.4), a trailing one leaving a trailing slash.
    ["/a/./b", "/a/b", ""],
    ["/a/b/../c", "/a/c", ""],
    ["/a/b/..", "/a/", ""],
    ["/a/b/.", "/a/b/", ""],
    ["/a/..", "/", ""],
    ["/a/../", "/", ""],
    ["/./", "/", ""],
    ["/.", "/", ""],
    // Encoded dots are dots once decoded.
    ["/a/%2e/b", "/a/b", ""],
    ["/a/%2E%2E/b", "/b", ""],
    ["/a/.%2e/b", "/b", ""],
    ["/status/%2e%2e/api/orders", "/api/orders", ""],
  ];
  for (const [target, path, query] of cases) {
    t.strictSame(normalizeTarget(target), { path, query }, target);
  }
});

t.test("normalizeTarget is idempotent on its own output", async (t) => {
  const targets = ["/%41/%2a/./x/../y//", "/a/b/..", "/%c3%a9/%7e", "//a/./b/../c/"];
  for (const target of targets) {
    const once = normalizeTarget(target).path;
    t.equal(normalizeTarget(once).path, once, target);
  }
});

t.test("normalizeTarget refuses ambiguous or invalid targets with a 400 bad_path", async (t) => {
  const cases: Array<[target: string, why: string]> = [
    // Encoded slash or backslash, NUL.
    ["/a%2Fb", "encoded slash, backslash or NUL"],
    ["/a%2fb", "encoded slash, backslash or NUL"],
    ["/status/..%2Fapi/orders", "encoded slash, backslash or NUL"],
    ["/a%5Cb", "encoded slash, backslash or NUL"],
    ["/a%5cb", "encoded slash, backslash or NUL"],
    ["/a%00b", "encoded slash, backslash or NUL"],
    // Climbing above the root, plainly or encoded.
    ["/..", "path climbs above the root"],
    ["/../a", "path climbs above the root"],
    ["/a/../..", "path climbs above the root"],
    ["/a/../../b", "path climbs above the root"],
    ["/%2e%2e/x", "path climbs above the root"],
    ["/.%2E/x", "path climbs above the root"],
    ["/a/%2e%2e/%2e%2e", "path climbs above the root"],
    // Malformed percent-encoding.
    ["/%", "malformed percent-encoding"],
    ["/a%", "malformed percent-encoding"],
    ["/%4", "malformed percent-encoding"],
    ["/%4?x", "malformed percent-encoding"],
    ["/%4g", "malformed percent-encoding"],
    ["/%zz", "malformed percent-encoding"],
    ["/%%41", "malformed percent-encoding"],
    // Characters outside RFC 3986, raw.
    ["/a\\b", "character not allowed in a path"],
    ["/\\evil.example", "character not allowed in a path"],
    ["/a b", "character not allowed in a path"],
    ['/a"b', "character not allowed in a path"],
    ["/a<b>", "character not allowed in a path"],
    ["/a{b}", "character not allowed in a path"],
    ["/a|b", "character not allowed in a path"],
    ["/a^b", "character not allowed in a path"],
    ["/a`b", "character not allowed in a path"],
    ["/a[0]", "character not allowed in a path"],
    ["/a#frag", "character not allowed in a path"],
    ["/a\tb", "character not allowed in a path"],
    ["/a\u0000", "character not allowed in a path"],
    ["/a\u007f", "character not allowed in a path"],
    ["/é", "character not allowed in a path"],
    ["/a/\u{1f600}", "character not allowed in a path"],
    // Not origin-form.
    ["*", "request target is not in origin form"],
    ["http://x/", "request target is not in origin form"],
    ["x.example:443", "request target is not in origin form"],
    ["a/b", "request target is not in origin form"],
    ["?x", "request target is not in origin form"],
    ["", "request target is not in origin form"],
  ];
  for (const [target, why] of cases) {
    const err = refusalOf(() => normalizeTarget(target));
    t.ok(err, `${JSON.stringify(target)} is refused`);
    t.equal(err?.status, 400, `${JSON.stringify(target)} status`);
    t.equal(err?.answerName, "bad_request", `${JSON.stringify(target)} code`);
    t.equal(err?.reason, "bad_path", `${JSON.stringify(target)} reason`);
    t.equal(err?.message, why, `${JSON.stringify(target)} detail`);
  }
});

t.test("hasPathPrefix matches whole segments", async (t) => {
  const cases: Array<[path: string, prefix: string, expected: boolean]> = [
    ["/status", "/status", true],
    ["/status/", "/status", true],
    ["/status/x", "/status", true],
    ["/status/x/y", "/status", true],
    ["/statusx", "/status", false],
    ["/status.json", "/status", false],
    ["/stat", "/status", false],
    ["/", "/status", false],
    ["/other/status", "/status", false],
    ["/api/orders/1", "/api/orders", true],
    ["/api/orders1", "/api/orders", false],
    ["/api", "/api/orders", false],
    ["/", "/", true],
    ["/anything", "/", true],
    ["/a/b/c/", "/", true],
  ];
  for (const [path, prefix, expected] of cases) {
    t.equal(hasPathPrefix(path, prefix), expected, `${path} under ${prefix}`);
  }
});

t.test("normalizeTarget on generated targets: refused, or normal and stable", async (t) => {
  // A fixed-seed generator, so a failure is reproducible.
  let seed = 0x2545f491;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const pieces = [
    "/",
    "/",
    "a",
    "B",
    ".",
    "..",
    "%2e",
    "%2E",
    "%41",
    "%7e",
    "%2a",
    "%C3",
    "%",
    "%2F",
    "%5c",
    "%00",
    "~",
    ":",
    "@",
    " ",
    "\\",
    "é",
  ];
  const failures: string[] = [];
  let accepted = 0;
  for (let i = 0; i < 5000; i++) {
    let target = "/";
    const n = 1 + Math.floor(next() * 8);
    for (let j = 0; j < n; j++) target += pieces[Math.floor(next() * pieces.length)];
    let path: string;
    try {
      path = normalizeTarget(target).path;
    } catch (err) {
      if (!(err instanceof Refusal) || err.reason !== "bad_path") failures.push(`${target}: ${err}`);
      continue;
    }
    accepted++;
    const segments = path.split("/").slice(1, path.endsWith("/") ? -1 : undefined);
    if (!path.startsWith("/")) failures.push(`${target} → ${path}: not absolute`);
    if (path.includes("//")) failures.push(`${target} → ${path}: empty segment`);
    if (segments.some((s) => s === "." || s === "..")) failures.push(`${target} → ${path}: dot segment`);
    if (/%(?:[0-9A-F][a-f]|[a-f][0-9A-Fa-f])/.test(path))
      failures.push(`${target} → ${path}: lower-case escape`);
    if (/%(?:4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|3[0-9]|2[DE]|5F|7E)/.test(path))
      failures.push(`${target} → ${path}: encoded unreserved character`);
    if (normalizeTarget(path).path !== path) failures.push(`${target} → ${path}: not stable`);
  }
  t.strictSame(failures, [], "every accepted target comes out in normal form, and stays so");
  t.ok(accepted > 500, `a fair share is accepted (${accepted})`);
});

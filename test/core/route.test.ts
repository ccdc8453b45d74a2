import t from "tap";
import { parseConfig } from "../../src/config/schema.js";
import { type CompiledRoute, compileRoute, hostName } from "../../src/core/route.js";

interface RouteInput {
  match?: Record<string, unknown>;
  upstream?: string;
  stripPrefix?: boolean;
}

/** A route as the schema gives it (defaults filled), compiled. Public, so it needs no issuer. */
function route({ match = {}, upstream = "http://127.0.0.1:3000", stripPrefix }: RouteInput): CompiledRoute {
  const config = parseConfig({
    routes: [{ id: "r", match, upstream, auth: { mode: "public" }, ...(stripPrefix ? { stripPrefix } : {}) }],
  });
  return compileRoute(config.routes[0] as (typeof config.routes)[number]);
}

t.test("compileRoute keeps the config and id", async (t) => {
  const r = route({ match: { pathPrefix: "/api" } });
  t.equal(r.id, "r");
  t.equal(r.config.match.pathPrefix, "/api");
});

t.test("methods: the listed ones, exactly as written; GET covers HEAD", async (t) => {
  const r = route({ match: { methods: ["GET", "POST"] } });
  const cases: Array<[method: string, expected: boolean]> = [
    ["GET", true],
    ["POST", true],
    ["DELETE", false],
    ["PUT", false],
    ["HEAD", true],
    ["get", false],
    ["TRACE", false],
  ];
  for (const [method, expected] of cases) t.equal(r.matches("", method, "/x"), expected, method);
  t.notOk(route({ match: { methods: ["POST"] } }).matches("", "HEAD", "/x"), "HEAD only with GET");
  t.ok(route({ match: { methods: ["HEAD"] } }).matches("", "HEAD", "/x"), "HEAD when listed");

  const any = route({});
  for (const method of ["GET", "HEAD", "DELETE", "PATCH", "OPTIONS"])
    t.ok(any.matches("", method, "/x"), method);
  t.notOk(any.matches("", "TRACE", "/x"), "TRACE only where listed");
  t.ok(route({ match: { methods: ["TRACE"] } }).matches("", "TRACE", "/x"), "TRACE listed");
});

t.test("hosts: exact names, case-insensitive, port ignored (through hostName)", async (t) => {
  const r = route({ match: { hosts: ["API.Example.com", "other.test"] } });
  const cases: Array<[hostHeader: string | undefined, expected: boolean]> = [
    ["api.example.com", true],
    ["API.EXAMPLE.COM", true],
    ["api.example.com:8443", true],
    ["Api.Example.Com:80", true],
    ["other.test", true],
    ["example.com", false],
    ["x.api.example.com", false],
    ["api.example.com.evil", false],
    ["api.example.co", false],
    [undefined, false],
    ["", false],
  ];
  for (const [header, expected] of cases) {
    t.equal(r.matches(hostName(header), "GET", "/"), expected, `Host: ${header}`);
  }
});

t.test("hosts: *.domain matches sub-domains at any depth, never the apex", async (t) => {
  const r = route({ match: { hosts: ["*.Example.com"] } });
  const cases: Array<[hostHeader: string, expected: boolean]> = [
    ["a.example.com", true],
    ["A.EXAMPLE.COM:9000", true],
    ["a.b.example.com", true],
    ["example.com", false],
    ["example.com:443", false],
    [".example.com", false],
    ["badexample.com", false],
    ["a.example.com.evil", false],
    ["a.example.org", false],
  ];
  for (const [header, expected] of cases) {
    t.equal(r.matches(hostName(header), "GET", "/"), expected, `Host: ${header}`);
  }
});

t.test("no hosts: every host, even none", async (t) => {
  const r = route({});
  for (const host of ["", "a.example.com", "[::1]"]) t.ok(r.matches(host, "GET", "/"), host);
});

t.test("pathPrefix: whole segments, with or without a trailing slash in the config", async (t) => {
  for (const prefix of ["/api", "/api/"]) {
    const r = route({ match: { pathPrefix: prefix } });
    const cases: Array<[path: string, expected: boolean]> = [
      ["/api", true],
      ["/api/", true],
      ["/api/x", true],
      ["/api/x/y", true],
      ["/apix", false],
      ["/ap", false],
      ["/", false],
      ["/v1/api", false],
    ];
    for (const [path, expected] of cases) t.equal(r.matches("", "GET", path), expected, `${prefix}: ${path}`);
  }
});

t.test("pathPrefix is normalized like a request path", async (t) => {
  const r = route({ match: { pathPrefix: "//a/./%62//" } });
  t.ok(r.matches("", "GET", "/a/b"));
  t.ok(r.matches("", "GET", "/a/b/c"));
  t.notOk(r.matches("", "GET", "/a/bc"));
  t.notOk(r.matches("", "GET", "/a"));
});

t.test("path: exact match of the normalized path, with or without a trailing slash", async (t) => {
  const r = route({ match: { path: "/exact" } });
  const cases: Array<[path: string, expected: boolean]> = [
    ["/exact", true],
    ["/exact/", true],
    ["/exact//", false],
    ["/exact/x", false],
    ["/exactly", false],
    ["/", false],
  ];
  for (const [path, expected] of cases) t.equal(r.matches("", "GET", path), expected, path);
  t.ok(route({ match: { path: "/a/%7e" } }).matches("", "GET", "/a/~"), "config path is normalized");
  const slash = route({ match: { path: "/report/" } });
  t.ok(slash.matches("", "GET", "/report"), "a configured trailing slash is optional too");
  t.ok(slash.matches("", "GET", "/report/"));
  const root = route({ match: { path: "/" } });
  t.ok(root.matches("", "GET", "/"));
  t.notOk(root.matches("", "GET", "//"));
});

t.test("no path rule: every path", async (t) => {
  const r = route({});
  for (const path of ["/", "/x", "/x/y/"]) t.ok(r.matches("", "GET", path), path);
});

t.test("method, host and path must all match", async (t) => {
  const r = route({ match: { methods: ["GET"], hosts: ["a.test"], pathPrefix: "/api" } });
  t.ok(r.matches("a.test", "GET", "/api/x"));
  t.notOk(r.matches("b.test", "GET", "/api/x"), "wrong host");
  t.notOk(r.matches("a.test", "POST", "/api/x"), "wrong method");
  t.notOk(r.matches("a.test", "GET", "/other"), "wrong path");
});

t.test("upstream origin and base path", async (t) => {
  const cases: Array<[upstream: string, origin: string, basePath: string]> = [
    ["http://h:1/base", "http://h:1", "/base"],
    ["http://h:1/base/", "http://h:1", "/base"],
    ["http://h:1/a/b", "http://h:1", "/a/b"],
    ["http://h:1", "http://h:1", ""],
    ["http://h:1/", "http://h:1", ""],
    ["https://H.Example:443/x", "https://h.example", "/x"],
    ["http://[::1]:8080/x/", "http://[::1]:8080", "/x"],
  ];
  for (const [upstream, origin, basePath] of cases) {
    const r = route({ upstream });
    t.equal(r.upstreamOrigin, origin, `${upstream} origin`);
    t.equal(r.upstreamPath("/p"), `${basePath}/p`, `${upstream} base path`);
  }
});

t.test("upstreamPath: base path, stripPrefix", async (t) => {
  const cases: Array<[name: string, input: RouteInput, path: string, expected: string]> = [
    [
      "base, no strip",
      { upstream: "http://h:1/base", match: { pathPrefix: "/api" } },
      "/api/x",
      "/base/api/x",
    ],
    [
      "base, no strip, prefix itself",
      { upstream: "http://h:1/base", match: { pathPrefix: "/api" } },
      "/api",
      "/base/api",
    ],
    [
      "base/, no strip",
      { upstream: "http://h:1/base/", match: { pathPrefix: "/api" } },
      "/api/x",
      "/base/api/x",
    ],
    [
      "base, strip",
      { upstream: "http://h:1/base", match: { pathPrefix: "/api" }, stripPrefix: true },
      "/api/x",
      "/base/x",
    ],
    [
      "base, strip, trailing slash kept",
      { upstream: "http://h:1/base", match: { pathPrefix: "/api" }, stripPrefix: true },
      "/api/x/",
      "/base/x/",
    ],
    // The prefix alone becomes the base path with a slash ("/base/", not "/base").
    [
      "base, strip, prefix alone: the base itself, as nginx does",
      { upstream: "http://h:1/base", match: { pathPrefix: "/api" }, stripPrefix: true },
      "/api",
      "/base",
    ],
    [
      "base, strip, prefix and slash",
      { upstream: "http://h:1/base", match: { pathPrefix: "/api" }, stripPrefix: true },
      "/api/",
      "/base/",
    ],
    ["no base, strip", { match: { pathPrefix: "/api" }, stripPrefix: true }, "/api/x", "/x"],
    ["no base, strip, prefix alone", { match: { pathPrefix: "/api" }, stripPrefix: true }, "/api", "/"],
    [
      "no base, strip, prefix with trailing slash",
      { match: { pathPrefix: "/api/" }, stripPrefix: true },
      "/api/x",
      "/x",
    ],
    ["no base, strip, deep prefix", { match: { pathPrefix: "/a/b" }, stripPrefix: true }, "/a/b/c", "/c"],
    ["no base, no strip", { match: { pathPrefix: "/api" } }, "/api/x", "/api/x"],
    ["no base, root", {}, "/", "/"],
    ["strip with prefix /: nothing stripped", { match: { pathPrefix: "/" }, stripPrefix: true }, "/x", "/x"],
    [
      "strip with prefix /, base",
      { upstream: "http://h:1/base", match: { pathPrefix: "/" }, stripPrefix: true },
      "/x",
      "/base/x",
    ],
  ];
  for (const [name, input, path, expected] of cases) {
    t.equal(route(input).upstreamPath(path), expected, name);
  }
});

t.test("upstreamPath: an upstream URL ending in // does not double the slash", async (t) => {
  const r = route({ upstream: "http://h:1//" });
  t.equal(r.upstreamPath("/api/x"), "/api/x");
  t.equal(route({ upstream: "http://h:1/base//" }).upstreamPath("/x"), "/base/x");
});

t.test("compileRoute refuses a path it cannot normalize (the schema refuses it first)", async (t) => {
  const valid = route({}).config;
  for (const match of [{ pathPrefix: "/a b" }, { pathPrefix: "/.." }, { path: "/a%2Fb" }]) {
    t.throws(
      () => compileRoute({ ...valid, match: { ...match, caseSensitive: false } }),
      { name: "Refusal", answerName: "bad_request", reason: "bad_path" },
      JSON.stringify(match),
    );
  }
});

t.test("hostName: lower-case host without port", async (t) => {
  const cases: Array<[header: string | undefined, expected: string]> = [
    [undefined, ""],
    ["", ""],
    ["example.com", "example.com"],
    ["Example.COM", "example.com"],
    ["example.com:8080", "example.com"],
    ["EXAMPLE.com:80", "example.com"],
    ["127.0.0.1", "127.0.0.1"],
    ["127.0.0.1:3000", "127.0.0.1"],
    ["[::1]", "[::1]"],
    ["[::1]:8080", "[::1]"],
    ["[2001:DB8::1]:443", "[2001:db8::1]"],
    ["[fe80::1%25eth0]:1", "[fe80::1%25eth0]"],
  ];
  for (const [header, expected] of cases) t.equal(hostName(header), expected, String(header));
});

t.test("hostName: a fully qualified name's trailing dot is dropped", async (t) => {
  t.equal(hostName("api.example.com."), "api.example.com");
  t.equal(hostName("API.example.com.:8443"), "api.example.com");
  const r = route({ match: { hosts: ["api.example.com"] } });
  t.ok(r.matches(hostName("api.example.com."), "GET", "/"));
});

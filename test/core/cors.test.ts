import t from "tap";
import type { CorsConfig } from "../../src/config/types.js";
import { addCorsHeaders, compileCors, preflight, preflightMethod } from "../../src/core/cors.js";

const base: CorsConfig = {
  allowOrigins: ["https://app.example.com", "http://127.0.0.1:3000"],
  allowMethods: ["GET", "POST", "PUT"],
  allowHeaders: ["Authorization", "Content-Type", "X-Trace"],
  exposeHeaders: ["X-Request-Id", "ETag"],
  allowCredentials: false,
  maxAgeSeconds: 600,
};
const rules = compileCors(base);
const any = compileCors({ ...base, allowOrigins: ["*"], exposeHeaders: [], allowHeaders: [] });
const credentialed = compileCors({ ...base, allowCredentials: true });

t.test("preflightMethod: OPTIONS with an Origin and Access-Control-Request-Method only", async (t) => {
  const cases: Array<
    [
      string,
      string | string[] | undefined,
      string | string[] | undefined,
      { origin: string; method: string } | undefined,
    ]
  > = [
    ["OPTIONS", "https://a.example", "PUT", { origin: "https://a.example", method: "PUT" }],
    ["OPTIONS", "https://a.example", " DELETE ", { origin: "https://a.example", method: "DELETE" }],
    ["OPTIONS", undefined, "PUT", undefined],
    ["OPTIONS", "https://a.example", undefined, undefined],
    ["OPTIONS", "https://a.example", "", undefined],
    ["OPTIONS", "https://a.example", ["PUT", "GET"], undefined],
    ["OPTIONS", ["https://a.example", "https://b.example"], "PUT", undefined],
    ["GET", "https://a.example", "PUT", undefined],
  ];
  for (const [method, origin, asked, want] of cases) {
    t.same(preflightMethod(method, origin, asked), want, `${method} ${String(origin)} ${String(asked)}`);
  }
});

t.test("preflight: listed origin, method and headers pass with the allow headers", async (t) => {
  const d = preflight(rules, "https://app.example.com", "PUT", "authorization, content-type,X-TRACE");
  t.same(d, {
    allow: true,
    headers: {
      "access-control-allow-origin": "https://app.example.com",
      "access-control-allow-methods": "GET, POST, PUT",
      "access-control-allow-headers": "Authorization, Content-Type, X-Trace",
      "access-control-max-age": "600",
      vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
    },
  });
  const c = preflight(credentialed, "http://127.0.0.1:3000", "GET", undefined);
  t.equal(c.allow && c.headers["access-control-allow-credentials"], "true", "credentials said");
  const w = preflight(any, "https://anyone.example", "GET", "");
  t.equal(w.allow && w.headers["access-control-allow-origin"], "*", "* for every origin");
  t.equal(w.allow && w.headers["access-control-allow-headers"], undefined, "no headers listed, none said");
});

t.test("preflight: refusals name what was not allowed", async (t) => {
  const cases: Array<[string, string, string | undefined, string]> = [
    ["https://evil.example", "GET", undefined, "cors_origin"],
    ["https://app.example.com:443", "GET", undefined, "cors_origin"], // not how browsers send it
    ["https://APP.example.com", "GET", undefined, "cors_origin"],
    ["null", "GET", undefined, "cors_origin"],
    ["https://app.example.com", "DELETE", undefined, "cors_method"],
    ["https://app.example.com", "get", undefined, "cors_method"], // methods are case-sensitive
    ["https://app.example.com", "GET", "authorization, x-other", "cors_headers"],
  ];
  for (const [origin, method, headers, reason] of cases) {
    t.same(
      preflight(rules, origin, method, headers),
      { allow: false, reason },
      `${origin} ${method} ${headers}`,
    );
  }
  t.same(
    preflight(any, "null", "GET", undefined),
    { allow: false, reason: "cors_origin" },
    "* never admits null",
  );
});

t.test("addCorsHeaders: listed origins get the allow headers, every answer gets Vary: Origin", async (t) => {
  const h: Record<string, string | string[]> = {
    "content-type": "application/json",
    "access-control-allow-origin": "*",
    "access-control-allow-credentials": "true",
    vary: "Accept-Encoding",
  };
  addCorsHeaders(rules, "https://app.example.com", h);
  t.same(h, {
    "content-type": "application/json",
    vary: "Accept-Encoding, Origin",
    "access-control-allow-origin": "https://app.example.com",
    "access-control-expose-headers": "X-Request-Id, ETag",
  });

  const unlisted: Record<string, string | string[]> = { "access-control-allow-origin": "*" };
  addCorsHeaders(rules, "https://evil.example", unlisted);
  t.same(unlisted, { vary: "Origin" }, "the upstream's own allow header is gone too");

  const none: Record<string, string | string[]> = { vary: ["origin", "accept"] };
  addCorsHeaders(rules, undefined, none);
  t.same(none, { vary: "origin, accept" }, "Origin already named: not twice");

  const star: Record<string, string | string[]> = { vary: "*" };
  addCorsHeaders(credentialed, "http://127.0.0.1:3000", star);
  t.same(star, {
    vary: "*",
    "access-control-allow-origin": "http://127.0.0.1:3000",
    "access-control-allow-credentials": "true",
    "access-control-expose-headers": "X-Request-Id, ETag",
  });

  const everyone: Record<string, string | string[]> = {};
  addCorsHeaders(any, "https://x.example", everyone);
  t.same(everyone, { vary: "Origin", "access-control-allow-origin": "*" });
});

import type { IncomingHttpHeaders } from "node:http";
import t from "tap";
import { describedRequest, isCheckTarget, originalRequest, parseCidr } from "../../src/core/forward-auth.js";
import { Refusal } from "../../src/errors.js";

function refusal(headers: IncomingHttpHeaders, ingress: "nginx" | "traefik"): string {
  try {
    originalRequest(headers, ingress);
    return "passed";
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    return `${err.reason}: ${err.message}`;
  }
}

t.test("nginx: X-Original-URL and X-Original-Method", async (t) => {
  const cases: Array<[string, { method: string; host: string; target: string }]> = [
    [
      "https://api.example.com/orders/1?x=1",
      { method: "GET", host: "api.example.com", target: "/orders/1?x=1" },
    ],
    ["http://api.example.com:8443", { method: "GET", host: "api.example.com:8443", target: "/" }],
    ["HTTPS://api.example.com?q", { method: "GET", host: "api.example.com", target: "/?q" }],
    ["http://[::1]:80/a/../b", { method: "GET", host: "[::1]:80", target: "/a/../b" }],
  ];
  for (const [url, want] of cases) {
    t.same(originalRequest({ "x-original-url": url, "x-original-method": "GET" }, "nginx"), want, url);
  }
});

t.test("traefik: X-Forwarded-Method, -Host and -Uri", async (t) => {
  t.same(
    originalRequest(
      {
        "x-forwarded-method": "PUT",
        "x-forwarded-host": "api.example.com",
        "x-forwarded-uri": "/orders?id=2",
      },
      "traefik",
    ),
    { method: "PUT", host: "api.example.com", target: "/orders?id=2" },
  );
});

t.test("each ingress's shape only: the other's headers are a client's, never read", async (t) => {
  const traefik = {
    "x-forwarded-method": "GET",
    "x-forwarded-host": "a.example",
    "x-forwarded-uri": "/public",
  };
  const nginx = { "x-original-url": "https://a.example/public", "x-original-method": "GET" };
  t.equal(refusal(traefik, "nginx"), "bad_request: forward-auth: X-Original-URL is missing");
  t.equal(refusal(nginx, "traefik"), "bad_request: forward-auth: X-Forwarded-Uri is missing");
  t.same(
    originalRequest({ ...traefik, ...nginx, "x-original-url": "https://a.example/admin" }, "nginx").target,
    "/admin",
  );
  t.same(originalRequest({ ...nginx, ...traefik, "x-forwarded-uri": "/admin" }, "traefik").target, "/admin");
});

t.test("missing, repeated or malformed headers are refused", async (t) => {
  const url = "https://a.example/x";
  const cases: Array<[IncomingHttpHeaders, "nginx" | "traefik", string]> = [
    [{ "x-original-url": url }, "nginx", "X-Original-Method is missing"],
    [
      { "x-original-url": url, "x-original-method": "GET, POST" },
      "nginx",
      "X-Original-Method is not a method",
    ],
    [{ "x-original-url": url, "x-original-method": "get" }, "nginx", "X-Original-Method is not a method"],
    [
      { "x-original-url": `${url}, ${url}`, "x-original-method": "GET" },
      "nginx",
      "X-Original-URL is not one absolute http(s) URL",
    ],
    [
      { "x-original-url": "/x", "x-original-method": "GET" },
      "nginx",
      "X-Original-URL is not one absolute http(s) URL",
    ],
    [
      { "x-original-url": "ftp://a.example/x", "x-original-method": "GET" },
      "nginx",
      "X-Original-URL is not one absolute http(s) URL",
    ],
    [
      { "x-original-url": "https://a@b.example/x", "x-original-method": "GET" },
      "nginx",
      "X-Original-URL's host is not one host",
    ],
    [
      { "x-original-url": "https://a.example/x#f", "x-original-method": "GET" },
      "nginx",
      "X-Original-URL is not one absolute http(s) URL",
    ],
    [{ "x-forwarded-uri": "/x", "x-forwarded-method": "GET" }, "traefik", "X-Forwarded-Host is missing"],
    [
      { "x-forwarded-uri": "/x", "x-forwarded-host": "a.example, b.example", "x-forwarded-method": "GET" },
      "traefik",
      "X-Forwarded-Host is not one host",
    ],
    [
      { "x-forwarded-uri": "x", "x-forwarded-host": "a.example", "x-forwarded-method": "GET" },
      "traefik",
      "X-Forwarded-Uri is not one path",
    ],
    [
      { "x-forwarded-uri": "/x, /y", "x-forwarded-host": "a.example", "x-forwarded-method": "GET" },
      "traefik",
      "X-Forwarded-Uri is not one path",
    ],
    [
      {
        "x-forwarded-uri": ["/x", "/y"],
        "x-forwarded-host": "a.example",
        "x-forwarded-method": "GET",
      } as unknown as IncomingHttpHeaders,
      "traefik",
      "X-Forwarded-Uri is not one path",
    ],
    [
      { "x-forwarded-uri": "/x", "x-forwarded-host": "a.example" },
      "traefik",
      "X-Forwarded-Method is missing",
    ],
  ];
  for (const [headers, ingress, why] of cases) {
    t.equal(refusal(headers, ingress), `bad_request: forward-auth: ${why}`, JSON.stringify(headers));
  }
});

t.test("parseCidr", async (t) => {
  t.same(parseCidr("10.0.0.0/8"), { address: "10.0.0.0", prefix: 8, family: 4 });
  t.same(parseCidr("127.0.0.1"), { address: "127.0.0.1", prefix: 32, family: 4 });
  t.same(parseCidr("fd00::/8"), { address: "fd00::", prefix: 8, family: 6 });
  t.same(parseCidr("::1"), { address: "::1", prefix: 128, family: 6 });
  for (const bad of [
    "10.0.0.0/33",
    "::/129",
    "10.0.0.0/",
    "10.0.0.0/a",
    "10.0.0.0/0008",
    "example.com",
    "",
    "10.0.0/8",
  ]) {
    t.equal(parseCidr(bad), undefined, bad);
  }
});

t.test("envoy: the check request is the original, behind the path prefix", async (t) => {
  const check = (url: string, rawHeaders: string[] = ["Host", "api.example.com"], method = "PUT") => ({
    method,
    url,
    headers: {},
    rawHeaders,
  });
  t.same(describedRequest(check("/_auth/orders/1?x=1"), "envoy", "/_auth"), {
    method: "PUT",
    host: "api.example.com",
    target: "/orders/1?x=1",
  });
  t.same(describedRequest(check("/_auth/"), "envoy", "/_auth").target, "/", "the root");
  t.same(describedRequest(check("/_auth/public/x", ["Host", "a.example"], "GET"), "envoy", "/_auth"), {
    method: "GET",
    host: "a.example",
    target: "/public/x",
  });
  const refusedWith = (c: ReturnType<typeof check>) => {
    try {
      describedRequest(c, "envoy", "/_auth");
      return "passed";
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      return `${err.reason}: ${err.message}`;
    }
  };
  const noPath = "bad_request: forward-auth: the path is not the path prefix followed by the original path";
  t.equal(refusedWith(check("/_auth")), noPath, "a path_override: no original path");
  t.equal(refusedWith(check("/_auth?x=1")), noPath, "a query but no path");
  t.equal(refusedWith(check("/other/x")), noPath, "not under the prefix");
  t.equal(refusedWith(check("/_auth/x", [])), "bad_host: no Host header");
  t.equal(refusedWith(check("/_auth/x", ["Host", "a", "host", "b"])), "bad_host: more than one Host header");
  // The header shapes still read headers, through the same entry point.
  t.same(
    describedRequest(
      {
        method: "GET",
        url: "/_auth",
        headers: { "x-original-url": "http://a.example/x", "x-original-method": "GET" },
        rawHeaders: [],
      },
      "nginx",
      "/_auth",
    ),
    { method: "GET", host: "a.example", target: "/x" },
  );
  t.same(
    describedRequest(
      {
        method: "GET",
        url: "/_auth",
        headers: { "x-forwarded-uri": "/x", "x-forwarded-host": "a.example", "x-forwarded-method": "POST" },
        rawHeaders: [],
      },
      "traefik",
      "/_auth",
    ),
    { method: "POST", host: "a.example", target: "/x" },
  );
});

t.test("isCheckTarget: the exact path for header shapes, every path under it for envoy", async (t) => {
  const cases: Array<[string, "nginx" | "traefik" | "envoy", boolean]> = [
    ["/_auth", "nginx", true],
    ["/_auth?rd=x", "traefik", true],
    ["/_auth/x", "nginx", false],
    ["/_auth/x", "traefik", false],
    ["/_authx", "nginx", false],
    ["/_auth/x?y", "envoy", true],
    ["/_auth", "envoy", true],
    ["/_auth?x", "envoy", true],
    ["/_authx/y", "envoy", false],
    ["/other", "envoy", false],
  ];
  for (const [url, ingress, want] of cases)
    t.equal(isCheckTarget(url, ingress, "/_auth"), want, `${ingress} ${url}`);
});

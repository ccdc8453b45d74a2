/** The plain upstream's request, prepared from real requests received on 127.0.0.1. */
import type { IncomingMessage } from "node:http";
import t, { type Test } from "tap";
import { request } from "undici";
import { requestHeaderFilter } from "../../src/core/headers.js";
import { STANDARD_IDENTITY_HEADERS } from "../../src/core/identity.js";
import { compileTokenSource } from "../../src/core/token-source.js";
import type { UpstreamRequest } from "../../src/proxy/forwarder.js";
import { PlainUpstream, type PlainUpstreamProps } from "../../src/proxy/plain-upstream.js";
import type { AuthorizedExchange } from "../../src/proxy/upstream.js";
import { serve } from "../support/server.js";

const base: PlainUpstreamProps = {
  origin: "http://127.0.0.1:1",
  timeoutMs: 1000,
  upstreamPath: (path) => `/base${path}`,
  filter: requestHeaderFilter([...STANDARD_IDENTITY_HEADERS, "x-tenant"]),
  stripToken: undefined,
  claimHeaders: [["x-tenant", "custom:tenant"]],
  trustForwardedHeaders: false,
};

/** Sends one request and returns what the strategy prepared from it, as the server received it. */
async function prepared(
  t: Test,
  props: Partial<PlainUpstreamProps>,
  send: { path: string; headers?: Record<string, string>; body?: string },
  exchange: Partial<AuthorizedExchange> = {},
): Promise<UpstreamRequest & { sameReq: boolean }> {
  const strategy = new PlainUpstream({ ...base, ...props });
  let out: (UpstreamRequest & { sameReq: boolean }) | undefined;
  const url = await serve(t, async (req: IncomingMessage, res) => {
    const [path, query = ""] = (req.url ?? "/").split(/(?=\?)/);
    const length = req.headers["content-length"];
    const result = await strategy.prepare({
      req,
      method: req.method ?? "GET",
      requestId: "req-12345678",
      path: path ?? "/",
      query,
      identity: undefined,
      token: undefined,
      hasBody: length !== undefined && length !== "0",
      continueBody: () => {},
      ...exchange,
    });
    out = { ...result, sameReq: result.body === req };
    req.resume();
    res.end();
  });
  const res = await request(`${url}${send.path}`, {
    method: send.body === undefined ? "GET" : "POST",
    headers: send.headers ?? {},
    body: send.body ?? null,
  });
  await res.body.dump();
  if (out === undefined) throw new Error("nothing prepared");
  return out;
}

const pairs = (headers: readonly string[]) => {
  const out: string[][] = [];
  for (let i = 0; i < headers.length; i += 2) out.push([headers[i] as string, headers[i + 1] as string]);
  return out;
};
const valuesOf = (headers: readonly string[], name: string) =>
  pairs(headers)
    .filter(([n]) => n === name)
    .map(([, v]) => v);

t.test("forwarding headers: replaced by default, extended behind a trusted proxy", async (t) => {
  const spoof = { "x-forwarded-for": "6.6.6.6", "x-forwarded-proto": "https", "x-forwarded-host": "evil" };
  const own = await prepared(t, {}, { path: "/a", headers: spoof });
  t.strictSame(valuesOf(own.headers, "x-forwarded-for"), ["127.0.0.1"]);
  t.strictSame(valuesOf(own.headers, "x-forwarded-proto"), ["http"]);
  t.match(valuesOf(own.headers, "x-forwarded-host")[0], /^127\.0\.0\.1:\d+$/);

  const trusted = await prepared(t, { trustForwardedHeaders: true }, { path: "/a", headers: spoof });
  t.strictSame(valuesOf(trusted.headers, "x-forwarded-for"), ["6.6.6.6, 127.0.0.1"]);
  t.strictSame(valuesOf(trusted.headers, "x-forwarded-proto"), ["https"]);
  t.strictSame(valuesOf(trusted.headers, "x-forwarded-host"), ["evil"]);

  const first = await prepared(t, { trustForwardedHeaders: true }, { path: "/a" });
  t.strictSame(valuesOf(first.headers, "x-forwarded-for"), ["127.0.0.1"], "the first proxy starts the list");
  t.strictSame(valuesOf(first.headers, "x-forwarded-proto"), ["http"]);
  t.strictSame(valuesOf(first.headers, "x-request-id"), ["req-12345678"]);
});

t.test("the token is taken out of its header, cookie or query only where the route says", async (t) => {
  const token = "aaa.bbb.ccc";
  const header = await prepared(
    t,
    { stripToken: compileTokenSource({}, 8192) },
    { path: "/a?x=1", headers: { authorization: `Bearer ${token}` } },
  );
  t.strictSame(valuesOf(header.headers, "authorization"), []);
  t.equal(header.path, "/base/a?x=1");

  const cookie = await prepared(
    t,
    { stripToken: compileTokenSource({ cookie: "session" }, 8192) },
    { path: "/a", headers: { cookie: `theme=dark; session=${token}; lang=en` } },
  );
  t.strictSame(valuesOf(cookie.headers, "cookie"), ["theme=dark; lang=en"]);
  const only = await prepared(
    t,
    { stripToken: compileTokenSource({ cookie: "session" }, 8192) },
    { path: "/a", headers: { cookie: `session=${token}` } },
  );
  t.strictSame(valuesOf(only.headers, "cookie"), [], "no empty Cookie header is left");
  const other = await prepared(
    t,
    { stripToken: compileTokenSource({ cookie: "session" }, 8192) },
    { path: "/a", headers: { cookie: "theme=dark" } },
  );
  t.strictSame(valuesOf(other.headers, "cookie"), ["theme=dark"], "a cookie without the token passes as is");

  const query = await prepared(
    t,
    { stripToken: compileTokenSource({ query: "access_token" }, 8192) },
    { path: `/a?b=%2F&access_token=${token}&c` },
  );
  t.equal(query.path, "/base/a?b=%2F&c");

  const kept = await prepared(t, {}, { path: "/a", headers: { authorization: `Bearer ${token}` } });
  t.strictSame(valuesOf(kept.headers, "authorization"), [`Bearer ${token}`], "forwarded unless stripped");
});

t.test("identity headers come from the verified identity alone", async (t) => {
  const identity = {
    issuerId: "pool",
    subject: "user-1",
    claims: { sub: "user-1", email: "a@example.com", "custom:tenant": "t1" },
  };
  const out = await prepared(
    t,
    {},
    { path: "/a", headers: { "x-auth-request-user": "spoofed", "X-Tenant": "spoofed" } },
    { identity },
  );
  t.strictSame(valuesOf(out.headers, "x-auth-request-user"), ["user-1"]);
  t.strictSame(valuesOf(out.headers, "x-auth-request-email"), ["a@example.com"]);
  t.strictSame(valuesOf(out.headers, "x-tenant"), ["t1"]);
  const anonymous = await prepared(t, {}, { path: "/a", headers: { "x-auth-request-user": "spoofed" } });
  t.strictSame(valuesOf(anonymous.headers, "x-auth-request-user"), [], "no identity, no identity headers");
});

t.test("a body streams as the request itself; no body, none sent", async (t) => {
  const withBody = await prepared(t, {}, { path: "/a", body: "hello" });
  t.ok(withBody.sameReq, "the request streams through");
  const without = await prepared(t, {}, { path: "/a" });
  t.equal(without.body, null);
  t.equal(without.method, "GET");
});

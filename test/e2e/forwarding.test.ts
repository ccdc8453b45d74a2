import { connect } from "node:net";
import t from "tap";
import { request } from "undici";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { startIssuer, type TestIssuer } from "../support/issuer.js";
import { rawGet, rawRequest } from "../support/raw.js";
import { type RecordingUpstream, startUpstream } from "../support/upstream.js";
import { waitFor } from "../support/wait.js";

/** What the upstream receives, and what the client gets back, for requests that pass. */
let issuer: TestIssuer;
let up: RecordingUpstream;
let app: RunningApp;

t.before(async () => {
  issuer = await startIssuer();
  up = await startUpstream();
  app = await startApp(`
issuers:
  - { id: local, issuer: "${issuer.issuer}", jwksUri: "${issuer.jwksUri}", clientIds: [test-client] }
routes:
  - id: status
    match: { pathPrefix: /status }
    upstream: ${up.url}
    auth: { mode: public }
  - id: tenant-host
    match: { hosts: ["*.tenants.test"], pathPrefix: /api }
    upstream: ${up.url}/by-host
    auth: { mode: public }
  - id: orders
    match: { pathPrefix: /api/orders, methods: [GET, POST] }
    upstream: ${up.url}
    auth: { claimHeaders: { X-Tenant: "custom:tenant" } }
  - id: stripped
    match: { pathPrefix: /svc }
    stripPrefix: true
    upstream: ${up.url}/base
    auth: { forwardToken: false }
  - id: cookie
    match: { pathPrefix: /web }
    upstream: ${up.url}
    auth: { token: { cookie: session }, forwardToken: false }
  - id: query
    match: { pathPrefix: /legacy }
    upstream: ${up.url}
    auth: { token: { query: access_token }, forwardToken: false }
  - id: maybe
    match: { pathPrefix: /maybe }
    upstream: ${up.url}
    auth: { mode: optional }
  - id: slow
    match: { pathPrefix: /slow }
    upstream: { url: "${up.url}", timeoutMs: 200 }
    auth: { mode: public }
  - id: down
    match: { pathPrefix: /down }
    upstream: http://127.0.0.1:1
    auth: { mode: public }
`);
  await waitReady(app.adminUrl);
});
t.teardown(async () => {
  await app.stop();
  await up.close();
  await issuer.close();
});

const last = () => up.requests[up.requests.length - 1];
const claims = { email: "ann@example.com", "cognito:groups": ["staff", "admin"], "custom:tenant": "acme" };

t.test("method, path, query and end-to-end headers reach the upstream; hop-by-hop do not", async (t) => {
  const token = issuer.token(claims);
  const res = await request(`${app.url}/api/orders/7?x=1&y=%20z`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      "x-custom": "kept",
      "proxy-authorization": "Basic Zm9vOmJhcg==",
      te: "trailers",
      forwarded: "for=1.2.3.4",
      "x-forwarded-for": "1.2.3.4",
      "x-forwarded-host": "evil.test",
      "x-forwarded-proto": "https",
      "x-request-id": "client-req-0001",
    },
    body: JSON.stringify({ n: 1 }),
  });
  t.equal(res.statusCode, 200);
  t.equal(res.headers["x-request-id"], "client-req-0001", "a valid request id is kept and returned");
  t.equal(res.headers["x-upstream"], "yes", "upstream headers reach the client");
  await res.body.dump();
  const got = last();
  t.equal(got?.method, "POST");
  t.equal(got?.url, "/api/orders/7?x=1&y=%20z");
  t.equal(got?.body, '{"n":1}');
  t.equal(got?.headers["x-custom"], "kept");
  t.equal(got?.headers.authorization, `Bearer ${token}`, "Authorization kept by default");
  for (const h of ["proxy-authorization", "te", "forwarded"])
    t.notOk(h in (got?.headers ?? {}), `${h} removed`);
  t.equal(
    got?.headers["x-forwarded-for"],
    "127.0.0.1",
    "X-Forwarded-For is the real client, not the claimed one",
  );
  t.equal(got?.headers["x-forwarded-proto"], "http");
  t.equal(got?.headers["x-forwarded-host"], new URL(app.url).host);
  t.equal(got?.headers["x-request-id"], "client-req-0001");
  t.equal(got?.headers["x-auth-request-user"], "user-1");
  t.equal(got?.headers["x-auth-request-email"], "ann@example.com");
  t.equal(got?.headers["x-auth-request-groups"], "staff,admin");
  t.equal(got?.headers["x-tenant"], "acme");
});

t.test("headers named in Connection are hop-by-hop too", async (t) => {
  const res = await rawGet(
    app.url,
    "/status/hop",
    "Connection: close, X-Secret-Hop\nX-Secret-Hop: dropped\nKeep-Alive: timeout=5\nX-Other: kept\n",
  );
  t.equal(res.status, 200);
  t.notOk("x-secret-hop" in (last()?.headers ?? {}));
  t.equal(last()?.headers["x-other"], "kept");
});

t.test("an invalid X-Request-Id is replaced by a generated one", async (t) => {
  const res = await request(`${app.url}/status`, {
    headers: { "x-request-id": "bad id with spaces\u0001" },
  }).catch(() => request(`${app.url}/status`, { headers: { "x-request-id": "x" } }));
  await res.body.dump();
  t.match(res.headers["x-request-id"], /^[0-9a-f-]{36}$/);
  t.equal(last()?.headers["x-request-id"], res.headers["x-request-id"]);
});

t.test("spoofed identity headers are removed from every request, public routes too", async (t) => {
  const spoof = {
    "X-Auth-Request-User": "root",
    "x-auth-request-email": "root@evil.test",
    "X-AUTH-REQUEST-GROUPS": "admin",
    "x-tenant": "globex",
  };
  const pub = await request(`${app.url}/status/x`, { headers: spoof });
  await pub.body.dump();
  t.equal(pub.statusCode, 200);
  for (const h of ["x-auth-request-user", "x-auth-request-email", "x-auth-request-groups", "x-tenant"]) {
    t.notOk(h in (last()?.headers ?? {}), `${h} stripped on a public route`);
  }
  const authed = await request(`${app.url}/api/orders/1`, {
    headers: { ...spoof, authorization: `Bearer ${issuer.token({ "custom:tenant": undefined })}` },
  });
  await authed.body.dump();
  t.equal(last()?.headers["x-auth-request-user"], "user-1");
  t.notOk(
    "x-auth-request-email" in (last()?.headers ?? {}),
    "absent claim: no header, and the spoofed one is gone",
  );
  t.notOk("x-tenant" in (last()?.headers ?? {}));
  t.same(
    last()?.rawHeaders.filter((_, i, a) => i % 2 === 0 && a[i]?.toLowerCase() === "x-auth-request-user"),
    ["x-auth-request-user"],
    "exactly one user header",
  );
});

t.test("optional routes pass without a token, and still refuse a bad one", async (t) => {
  const anon = await request(`${app.url}/maybe/x`);
  await anon.body.dump();
  t.equal(anon.statusCode, 200);
  t.notOk("x-auth-request-user" in (last()?.headers ?? {}));
  const before = up.requests.length;
  const bad = await request(`${app.url}/maybe/x`, { headers: { authorization: "Bearer a.b.c" } });
  await bad.body.dump();
  t.equal(bad.statusCode, 401);
  t.equal(up.requests.length, before);
  const good = await request(`${app.url}/maybe/x`, {
    headers: { authorization: `Bearer ${issuer.token()}` },
  });
  await good.body.dump();
  t.equal(last()?.headers["x-auth-request-user"], "user-1");
});

t.test("stripPrefix and upstream base path; forwardToken: false removes the token", async (t) => {
  const res = await request(`${app.url}/svc/items/1?q=2`, {
    headers: { authorization: `Bearer ${issuer.token()}` },
  });
  await res.body.dump();
  t.equal(res.statusCode, 200);
  t.equal(last()?.url, "/base/items/1?q=2");
  t.notOk("authorization" in (last()?.headers ?? {}));
  const root = await request(`${app.url}/svc`, { headers: { authorization: `Bearer ${issuer.token()}` } });
  await root.body.dump();
  t.equal(last()?.url, "/base", "the prefix alone maps to the base itself");
});

t.test("a cookie token is read and removed, other cookies kept", async (t) => {
  const res = await request(`${app.url}/web/page`, {
    headers: { cookie: `theme=dark; session=${issuer.token()}; lang=en` },
  });
  await res.body.dump();
  t.equal(res.statusCode, 200);
  t.equal(last()?.headers.cookie, "theme=dark; lang=en");
  const none = await request(`${app.url}/web/page`, { headers: { cookie: "theme=dark" } });
  await none.body.dump();
  t.equal(none.statusCode, 401);
  const bearerIgnored = await request(`${app.url}/web/page`, {
    headers: { authorization: `Bearer ${issuer.token()}` },
  });
  await bearerIgnored.body.dump();
  t.equal(bearerIgnored.statusCode, 401, "a route reading a cookie ignores the Authorization header");
});

t.test("a query token only where configured, and removed before forwarding", async (t) => {
  const token = issuer.token();
  const res = await request(`${app.url}/legacy/x?a=1&access_token=${token}&b=2`);
  await res.body.dump();
  t.equal(res.statusCode, 200);
  t.equal(last()?.url, "/legacy/x?a=1&b=2");
  t.notOk(app.logText().includes(token), "the query token is not logged");
  const elsewhere = await request(`${app.url}/api/orders/1?access_token=${token}`);
  await elsewhere.body.dump();
  t.equal(elsewhere.statusCode, 401, "other routes never read the query string");
});

t.test("other query parameters reach the upstream byte for byte when the token is removed", async (t) => {
  const res = await rawGet(app.url, `/legacy/x?a=%20b&access_token=${issuer.token()}&c=~d&e+f=1`);
  t.equal(res.status, 200);
  t.equal(last()?.url, "/legacy/x?a=%20b&c=~d&e+f=1");
});

t.test("Expect: 100-continue: a refused client gets its answer before sending the body", async (t) => {
  const before = up.requests.length;
  const refused = await rawRequest(
    app.url,
    "POST /api/orders/1 HTTP/1.1\nHost: x\nContent-Length: 5\nExpect: 100-continue\nConnection: close\n",
  );
  t.equal(refused.status, 401, "answered 401 at once, no 100 Continue first");
  t.equal(up.requests.length, before);

  const { connect } = await import("node:net");
  const text = await new Promise<string>((resolve) => {
    const s = connect(Number(new URL(app.url).port), "127.0.0.1", () =>
      s.write(
        `POST /api/orders/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${issuer.token()}\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      ),
    );
    let got = "";
    s.on("data", (d: Buffer) => {
      got += d.toString();
      if (got.startsWith("HTTP/1.1 100") && !got.includes("hello")) s.write("hello");
    });
    s.on("close", () => resolve(got));
  });
  t.match(
    text,
    /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /,
    "authorized: 100 Continue, then the answer",
  );
  t.equal(last()?.body, "hello", "the body reached the upstream");
  t.notOk("expect" in (last()?.headers ?? {}), "Expect is not forwarded");
});

t.test("a refused request's unread body is never read: the connection closes after the answer", async (t) => {
  const before = up.requests.length;
  const { port } = new URL(app.url);
  // Declares 10 MiB, sends 1 KiB and keeps the connection open, as a client wasting our reads would.
  const outcome = await new Promise<{ text: string; closed: boolean }>((resolve) => {
    const s = connect(Number(port), "127.0.0.1", () =>
      s.write(
        `POST /api/orders/1 HTTP/1.1\r\nHost: x\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n${"x".repeat(1024)}`,
      ),
    );
    let text = "";
    s.on("data", (d: Buffer) => {
      text += d.toString();
    });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text, closed: false });
    }, 5000);
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
  });
  t.match(outcome.text, /^HTTP\/1\.1 401 /);
  t.match(outcome.text, /\r\nconnection: close\r\n/i, "the answer says so");
  t.ok(outcome.closed, "cupbearer closed the connection without waiting for the body");
  t.equal(up.requests.length, before, "the upstream never saw it");

  const bodyless = await request(`${app.url}/api/orders/1`);
  await bodyless.body.dump();
  t.equal(bodyless.statusCode, 401);
  t.equal(bodyless.headers.connection, "keep-alive", "a refusal with nothing unread keeps the connection");
});

t.test("two Authorization headers are refused: the upstream might believe the other one", async (t) => {
  const before = up.requests.length;
  const res = await rawGet(
    app.url,
    "/api/orders/1",
    `Authorization: Bearer ${issuer.token()}\nAuthorization: Bearer ${issuer.token({ sub: "admin" })}\n`,
  );
  t.equal(res.status, 400);
  t.match(JSON.parse(res.body), { error: "bad_request" });
  const emptyFirst = await rawGet(
    app.url,
    "/maybe/x",
    `Authorization:\nAuthorization: Bearer ${issuer.token()}\n`,
  );
  t.equal(emptyFirst.status, 400, "an empty first copy does not hide the second, even on an optional route");
  t.equal(up.requests.length, before);
});

t.test("a client too slow to send its headers gets 408 and is disconnected", async (t) => {
  const slow = await startApp(`
limits: { headersTimeoutMs: 300, requestTimeoutMs: 600 }
routes:
  - { id: a, upstream: "${up.url}", auth: { mode: public } }
`);
  t.teardown(() => slow.stop());
  const before = up.requests.length;
  const started = Date.now();
  const res = await rawRequest(slow.url, "GET /x HTTP/1.1\nHost: x\nX-Partial: still typing", "").catch(
    () => undefined,
  );
  t.ok(Date.now() - started < 5000, "cut within seconds, not Node's 30 s default");
  t.equal(res?.status, 408);
  t.equal(up.requests.length, before);
});

t.test("client connections beyond limits.maxClientConnections are closed at once", async (t) => {
  const small = await startApp(`
limits: { maxClientConnections: 2 }
routes:
  - { id: a, upstream: "${up.url}", auth: { mode: public } }
`);
  t.teardown(() => small.stop());
  const { connect } = await import("node:net");
  const port = Number(new URL(small.url).port);
  const open = () =>
    new Promise<import("node:net").Socket>((resolve) => {
      const s = connect(port, "127.0.0.1", () => resolve(s));
    });
  const held = [await open(), await open()];
  const third = await open();
  const closed = await new Promise<boolean>((resolve) => {
    third.on("close", () => resolve(true));
    third.write("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    setTimeout(() => resolve(false), 3000);
  });
  t.ok(closed, "the third connection was closed without an answer");
  for (const s of held) s.destroy();
});

t.test("host matching", async (t) => {
  const res = await request(`${app.url}/api/x`, { headers: { host: "acme.tenants.test:8080" } });
  await res.body.dump();
  t.equal(res.statusCode, 200);
  t.equal(last()?.url, "/by-host/api/x");
  const apex = await request(`${app.url}/api/x`, { headers: { host: "tenants.test" } });
  await apex.body.dump();
  t.equal(apex.statusCode, 404, "the apex is not a sub-domain");
});

t.test("bodies stream both ways", async (t) => {
  const size = 8 * 1024 * 1024;
  const before = up.requests.length;
  up.handler = (rec, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    res.end(Buffer.alloc(size, rec.body.length % 251));
  };
  t.teardown(() => {
    up.handler = undefined;
  });
  const res = await request(`${app.url}/status/upload`, { method: "PUT", body: Buffer.alloc(size, 97) });
  const back = Buffer.from(await res.body.arrayBuffer());
  t.equal(res.statusCode, 200);
  t.equal(up.requests.length, before + 1);
  t.equal(up.requests[before]?.body.length, size, "the whole request body arrived");
  t.equal(back.length, size, "the whole response body arrived");
});

t.test("no route is 404; a method outside the route is 404", async (t) => {
  const before = up.requests.length;
  for (const [method, path] of [
    ["GET", "/nowhere"],
    ["DELETE", "/api/orders/1"],
    ["GET", "/statusx"],
  ] as const) {
    const res = await request(`${app.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${issuer.token()}` },
    });
    t.equal(res.statusCode, 404, `${method} ${path}`);
    t.match(await res.body.json(), { error: "not_found" });
  }
  t.equal(up.requests.length, before);
});

t.test("path tricks: ambiguous paths are 400, normalized ones are authorized as what they are", async (t) => {
  const before = up.requests.length;
  const refused = [
    "/status/..%2Fapi/orders",
    "/status/..%2fapi/orders",
    "/status/%2e%2e%2fapi/orders",
    "/status\\..\\api/orders",
    "/status/%5C../api/orders",
    "/status/%00",
    "/status/../../etc/passwd",
    "/..",
    "/status/%zz",
  ];
  for (const path of refused) {
    const res = await rawGet(app.url, path);
    t.equal(res.status, 400, path);
    t.match(JSON.parse(res.body), { error: "bad_request" });
  }
  t.equal(up.requests.length, before, "none reached the upstream");

  const toOrders = await rawGet(app.url, "/status/%2e%2e/api/orders");
  t.equal(toOrders.status, 401, "climbing out of /status lands on /api/orders and needs its token");
  const merged = await rawGet(app.url, "//status//./a/%7Euser/b/..");
  t.equal(merged.status, 200);
  t.equal(last()?.url, "/status/a/~user/", "the upstream receives the path that was authorized");
});

t.test("an informational 103 from the upstream is not taken for the answer", async (t) => {
  up.handler = (_rec, res) => {
    res.writeEarlyHints({ link: "</style.css>; rel=preload" });
    res.writeHead(201, { "content-type": "text/plain" }).end("created");
  };
  t.teardown(() => {
    up.handler = undefined;
  });
  const res = await request(`${app.url}/status/hints`);
  t.equal(res.statusCode, 201);
  t.equal(await res.body.text(), "created");
});

t.test("a client that goes away cancels the upstream call", async (t) => {
  let upstreamClosed!: () => void;
  const closed = new Promise<void>((r) => {
    upstreamClosed = r;
  });
  up.handler = (_rec, res) => {
    res.on("close", () => upstreamClosed());
  };
  t.teardown(() => {
    up.handler = undefined;
  });
  const controller = new AbortController();
  const pending = request(`${app.url}/status/hang`, { signal: controller.signal }).catch(() => "aborted");
  await waitFor("the upstream to receive /status/hang", () =>
    up.requests.some((r) => r.url === "/status/hang") ? true : undefined,
  );
  controller.abort();
  t.equal(await pending, "aborted");
  await closed;
  t.pass("the upstream connection was closed while it was still working");
});

t.test("upstream too slow is 504, refused is 502", async (t) => {
  up.handler = (_rec, res) => {
    setTimeout(() => res.end("late"), 1000);
  };
  t.teardown(() => {
    up.handler = undefined;
  });
  const slow = await request(`${app.url}/slow`);
  t.equal(slow.statusCode, 504);
  t.match(await slow.body.json(), { error: "gateway_timeout" });
  const down = await request(`${app.url}/down`);
  t.equal(down.statusCode, 502);
  const body = await down.body.text();
  t.notMatch(body, /ECONNREFUSED|127\.0\.0\.1:1/, "no internal detail");
});

t.test("oversized headers get 431 and malformed requests 400, before any routing", async (t) => {
  const before = up.requests.length;
  const big = await request(`${app.url}/status`, { headers: { "x-big": "x".repeat(20_000) } });
  t.equal(big.statusCode, 431);
  await big.body.dump();
  const raw = await new Promise<string>((resolve) => {
    const s = connect(Number(new URL(app.url).port), "127.0.0.1", () =>
      s.write("GET /status HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"),
    );
    let text = "";
    s.on("data", (d) => {
      text += d.toString();
    });
    s.on("close", () => resolve(text));
  });
  t.match(raw, /^HTTP\/1\.1 400 /);
  t.match(raw, /"error":"bad_request"/);
  t.equal(up.requests.length, before);
});

t.test("access log: one line per request, never a token or query string", async (t) => {
  const token = issuer.token();
  const res = await request(`${app.url}/api/orders/9?secret=abc`, {
    headers: { authorization: `Bearer ${token}`, "x-request-id": "log-test-00001" },
  });
  await res.body.dump();
  const line = await waitFor("the access log line of log-test-00001", () =>
    app.logs.find((l) => l.requestId === "log-test-00001"),
  );
  t.match(line, {
    route: "orders",
    method: "GET",
    status: 200,
    sub: "user-1",
    path: "/api/orders/9",
    msg: "request",
  });
  t.type(line?.durationMs, "number");
  t.notOk(app.logText().includes(token));
  t.notOk(app.logText().includes("secret=abc"));
});

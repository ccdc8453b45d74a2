import t from "tap";
import { foldHeaderName, INGRESS_DESCRIPTION_HEADERS, REWRITE_HEADERS } from "../../src/core/header-names.js";
import {
  clientResponseHeaders,
  HOP_BY_HOP,
  isGuardedSpelling,
  requestHeaderFilter,
  upstreamRequestHeaders,
  validRequestId,
} from "../../src/core/headers.js";
import { STANDARD_IDENTITY_HEADERS } from "../../src/core/identity.js";

/** The filter the route table builds: standard identity headers plus a route's claim header. */
const filter = requestHeaderFilter([...STANDARD_IDENTITY_HEADERS, "X-Tenant"]);

/** Flat [name, value, …] → [[name, value], …], for readable comparisons. */
function pairs(flat: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

t.test("HOP_BY_HOP lists the hop-by-hop headers", async (t) => {
  t.strictSame([...HOP_BY_HOP].sort(), [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
  ]);
});

t.test("requestHeaderFilter drops the fixed names plus the given names, lower-cased", async (t) => {
  const f = requestHeaderFilter(["X-Auth-Request-User", "X-Tenant", "X-Extra"]);
  for (const name of [
    "connection",
    "host",
    "expect",
    "forwarded",
    "x-real-ip",
    "x-request-id",
    "x-auth-request-user",
    "x-tenant",
    "x-extra",
  ]) {
    t.ok(f.drop.has(name), name);
  }
  for (const name of ["accept", "authorization", "cookie", "content-type", "X-Tenant"]) {
    t.notOk(f.drop.has(name), name);
  }
  t.notOk(requestHeaderFilter([]).drop.has("x-auth-request-user"), "identity names come from the caller");
});

t.test(
  "upstreamRequestHeaders drops what the proxy owns and keeps end-to-end headers in order",
  async (t) => {
    // biome-ignore format: name/value pairs, one pair a line
    const raw = [
      "Host", "proxy.example",
      "Accept", "text/html",
      "Connection", "keep-alive, X-Custom-Hop",
      "Keep-Alive", "timeout=5",
      "X-Custom-Hop", "1",
      "TE", "trailers",
      "Transfer-Encoding", "chunked",
      "Upgrade", "websocket",
      "Trailer", "x-checksum",
      "Proxy-Authorization", "Basic eA==",
      "Proxy-Authenticate", "Basic",
      "Proxy-Connection", "keep-alive",
      "Expect", "100-continue",
      "Forwarded", "for=6.6.6.6",
      "X-Forwarded-For", "6.6.6.6",
      "X-Forwarded-Host", "evil.example",
      "X-Forwarded-Proto", "https",
      "X-Request-Id", "client-chosen-id",
      "X-Auth-Request-User", "admin",
      "x-auth-request-email", "admin@example.com",
      "X-AUTH-REQUEST-GROUPS", "admin",
      "X-Tenant", "other",
      "Accept", "application/json",
      "Cookie", "a=1",
      "Authorization", "Bearer a.b.c",
      "Content-Type", "text/plain",
      "Content-Length", "3",
      "X-Multi", "1",
      "x-multi", "2",
    ];
    const append = [
      "x-auth-request-user",
      "u-1",
      "x-forwarded-for",
      "127.0.0.1",
      "x-request-id",
      "rid-12345",
    ];
    t.strictSame(pairs(upstreamRequestHeaders(raw, filter, "keep-alive, X-Custom-Hop", undefined, append)), [
      ["accept", "text/html"],
      ["accept", "application/json"],
      ["cookie", "a=1"],
      ["authorization", "Bearer a.b.c"],
      ["content-type", "text/plain"],
      ["content-length", "3"],
      ["x-multi", "1"],
      ["x-multi", "2"],
      ["x-auth-request-user", "u-1"],
      ["x-forwarded-for", "127.0.0.1"],
      ["x-request-id", "rid-12345"],
    ]);
  },
);

t.test("upstreamRequestHeaders: Connection-listed names", async (t) => {
  const raw = ["Accept", "a", "X-A", "1", "X-B", "2", "X-C", "3"];
  const cases: Array<[connection: string | undefined, expected: Array<[string, string]>]> = [
    [
      undefined,
      [
        ["accept", "a"],
        ["x-a", "1"],
        ["x-b", "2"],
        ["x-c", "3"],
      ],
    ],
    [
      "",
      [
        ["accept", "a"],
        ["x-a", "1"],
        ["x-b", "2"],
        ["x-c", "3"],
      ],
    ],
    [
      "close",
      [
        ["accept", "a"],
        ["x-a", "1"],
        ["x-b", "2"],
        ["x-c", "3"],
      ],
    ],
    [
      "X-A",
      [
        ["accept", "a"],
        ["x-b", "2"],
        ["x-c", "3"],
      ],
    ],
    [
      " x-a ,, X-C ",
      [
        ["accept", "a"],
        ["x-b", "2"],
      ],
    ],
    // Node joins repeated Connection headers with ", ".
    [
      "keep-alive, x-b, accept",
      [
        ["x-a", "1"],
        ["x-c", "3"],
      ],
    ],
  ];
  for (const [connection, expected] of cases) {
    t.strictSame(
      pairs(upstreamRequestHeaders(raw, filter, connection, undefined, [])),
      expected,
      String(connection),
    );
  }
});

t.test("upstreamRequestHeaders: a client's Connection header cannot remove appended headers", async (t) => {
  const raw = ["Connection", "x-auth-request-user, x-request-id", "Accept", "a"];
  const out = upstreamRequestHeaders(raw, filter, "x-auth-request-user, x-request-id", undefined, [
    "x-auth-request-user",
    "u-1",
    "x-request-id",
    "rid-12345",
  ]);
  t.strictSame(pairs(out), [
    ["accept", "a"],
    ["x-auth-request-user", "u-1"],
    ["x-request-id", "rid-12345"],
  ]);
});

t.test("upstreamRequestHeaders: `also` removes one more lower-case name, every copy", async (t) => {
  const raw = [
    "Authorization",
    "Bearer a.b.c",
    "Accept",
    "a",
    "authorization",
    "Bearer d.e.f",
    "Cookie",
    "t=1",
  ];
  t.strictSame(pairs(upstreamRequestHeaders(raw, filter, undefined, "authorization", [])), [
    ["accept", "a"],
    ["cookie", "t=1"],
  ]);
  t.strictSame(pairs(upstreamRequestHeaders(raw, filter, undefined, "cookie", ["cookie", "kept=1"])), [
    ["authorization", "Bearer a.b.c"],
    ["accept", "a"],
    ["authorization", "Bearer d.e.f"],
    ["cookie", "kept=1"],
  ]);
});

t.test("upstreamRequestHeaders does not change its input", async (t) => {
  const raw = ["Host", "h", "Accept", "a"];
  const append = ["x-request-id", "rid-12345"];
  upstreamRequestHeaders(raw, filter, undefined, undefined, append);
  t.strictSame(raw, ["Host", "h", "Accept", "a"]);
  t.strictSame(append, ["x-request-id", "rid-12345"]);
});

t.test("upstreamRequestHeaders drops every X-Forwarded-* header a client sends", async (t) => {
  const names = [
    "X-Forwarded-Port",
    "X-Forwarded-Prefix",
    "X-Forwarded-Server",
    "X-Forwarded-Uri",
    "X-Forwarded-Method",
  ];
  const raw = names.flatMap((n) => [n, "spoofed"]);
  t.strictSame(upstreamRequestHeaders(raw, filter, undefined, undefined, []), []);
});

t.test("clientResponseHeaders drops hop-by-hop and Connection-listed headers", async (t) => {
  const cases: Array<[name: string, input: Record<string, string | string[] | undefined>, expected: object]> =
    [
      [
        "hop-by-hop",
        {
          "content-type": "text/plain",
          connection: "keep-alive",
          "keep-alive": "timeout=5",
          "transfer-encoding": "chunked",
          upgrade: "h2c",
          trailer: "x",
          te: "trailers",
          "proxy-authenticate": "Basic",
          "proxy-connection": "keep-alive",
          "proxy-authorization": "x",
          "set-cookie": ["a=1", "b=2"],
          "cache-control": "no-store",
        },
        { "content-type": "text/plain", "set-cookie": ["a=1", "b=2"], "cache-control": "no-store" },
      ],
      ["Connection-listed", { connection: "close, X-Hop", "x-hop": "1", "x-kept": "2" }, { "x-kept": "2" }],
      ["Connection as a list", { connection: ["keep-alive", "x-a"], "x-a": "1", "x-b": "2" }, { "x-b": "2" }],
      ["undefined values", { "x-a": undefined, "x-b": "2" }, { "x-b": "2" }],
      ["nothing", {}, {}],
    ];
  for (const [name, input, expected] of cases) t.strictSame(clientResponseHeaders(input), expected, name);
});

t.test("validRequestId", async (t) => {
  const cases: Array<[value: string | string[] | undefined, expected: string | undefined]> = [
    ["abcdefgh", "abcdefgh"],
    ["7d8ca528-4931-4254-9273-ea5ee853f271", "7d8ca528-4931-4254-9273-ea5ee853f271"],
    // An X-Ray trace header holds "=": not a plain token.
    ["Root=1-67891233-abcdef012345678912345678", undefined],
    ["req.1_2:3-4", "req.1_2:3-4"],
    ["a".repeat(128), "a".repeat(128)],
    ["abcdefg", undefined],
    ["a".repeat(129), undefined],
    ["", undefined],
    [undefined, undefined],
    [["abcdefgh"], undefined],
    ["has space", undefined],
    ["abcdefgh\n", undefined],
    ["abc/defgh", undefined],
    ["abcdefgh;x", undefined],
    ["ünicode12", undefined],
  ];
  for (const [value, expected] of cases) t.equal(validRequestId(value), expected, JSON.stringify(value));
});

t.test("a guarded header spelled with _ never reaches the upstream, as CGI/WSGI would read it", async (t) => {
  const routeFilter = requestHeaderFilter([...STANDARD_IDENTITY_HEADERS, "X-Tenant"], {
    guard: ["X-Api-Token"],
  });
  // biome-ignore format: name/value pairs, one pair a line
  const raw = [
    "X_Auth_Request_User", "root",
    "x-auth_request-email", "root@example.com",
    "X_TENANT", "other",
    "X_Forwarded_For", "10.0.0.1",
    "x_real_ip", "10.0.0.2",
    "X_Request_Id", "spoofed-id-123",
    "Transfer_Encoding", "chunked",
    "Content_Length", "0",
    "X_Api_Token", "unverified",
    "X-Api-Token", "verified",
    "X_HTTP_Method_Override", "DELETE",
    "My_Header", "kept",
    "Accept", "*/*",
  ];
  const out = pairs(upstreamRequestHeaders(raw, routeFilter, undefined, undefined, []));
  t.strictSame(out, [
    ["x-api-token", "verified"],
    ["my_header", "kept"],
    ["accept", "*/*"],
  ]);
});

t.test("rewrite headers are dropped unless the route forwards them by name", async (t) => {
  // biome-ignore format: name/value pairs, one pair a line
  const raw = [
    "X-HTTP-Method-Override", "DELETE",
    "X-HTTP-Method", "DELETE",
    "X-Method-Override", "DELETE",
    "X-Original-URL", "/admin",
    "X-Rewrite-URL", "/admin",
    "X-Envoy-Original-Path", "/admin",
  ];
  t.strictSame(upstreamRequestHeaders(raw, filter, undefined, undefined, []), [], "all dropped by default");
  const opted = requestHeaderFilter([], { allowRewrite: ["X-HTTP-Method-Override"] });
  t.strictSame(
    pairs(upstreamRequestHeaders([...raw, "X_HTTP_Method_Override", "PUT"], opted, undefined, undefined, [])),
    [["x-http-method-override", "DELETE"]],
    "the named one passes as spelled; its _ spelling still does not",
  );
});

t.test(
  "an ingress's description of a request is always dropped, even for a rewrite-forwarding route",
  async (t) => {
    // biome-ignore format: name/value pairs, one pair a line
    const raw = [
    "X-Original-Method", "DELETE",
    "X-Original-URI", "/admin",
    "X-Original-Host", "admin.example.com",
    "X_Original_Method", "DELETE",
    "X-Forwarded-Method", "DELETE",
    "X-Forwarded-Uri", "/admin",
    "Accept", "*/*",
  ];
    const opted = requestHeaderFilter([], { allowRewrite: REWRITE_HEADERS });
    t.strictSame(pairs(upstreamRequestHeaders(raw, opted, undefined, undefined, [])), [["accept", "*/*"]]);
    t.ok(INGRESS_DESCRIPTION_HEADERS.every((h) => h === h.toLowerCase() && !REWRITE_HEADERS.includes(h)));
  },
);

t.test("isGuardedSpelling and foldHeaderName", async (t) => {
  t.equal(foldHeaderName("x_auth_request_user"), "x-auth-request-user");
  t.equal(foldHeaderName("accept"), "accept");
  t.ok(isGuardedSpelling("x_forwarded_prefix", filter), "every X-Forwarded-* spelling");
  t.notOk(isGuardedSpelling("x-auth-request-user", filter), "the dash spelling is the filter's own business");
  t.notOk(isGuardedSpelling("my_header", filter));
  t.ok(REWRITE_HEADERS.every((h) => h === h.toLowerCase()));
});

t.test("ALB's x-amzn-oidc-* headers: only cupbearer sets them, whatever the spelling", async (t) => {
  const filter = requestHeaderFilter(STANDARD_IDENTITY_HEADERS);
  const raw = [
    "X-Amzn-Oidc-Data",
    "forged",
    "x-amzn-oidc-identity",
    "admin",
    "X-AMZN-OIDC-Future",
    "forged",
    "x_amzn_oidc_accesstoken",
    "forged",
    "x-amzn-trace-id",
    "Root=1-abc",
  ];
  const out = upstreamRequestHeaders(raw, filter, undefined, undefined, ["x-amzn-oidc-identity", "u-1"]);
  t.strictSame(out, ["x-amzn-trace-id", "Root=1-abc", "x-amzn-oidc-identity", "u-1"]);
  t.ok(isGuardedSpelling("x_amzn_oidc_data", filter));
  t.notOk(isGuardedSpelling("x_amzn_trace_id", filter));
});

import t from "tap";
import { checkConfig, parseConfig } from "../../src/config/schema.js";
import type { Config } from "../../src/config/types.js";
import { configEdits, type Edit, problemsOf, REMOVE } from "../support/config-edits.js";

/** The example config as a parsed document; each case edits a fresh copy. */
const EXAMPLE = {
  listen: { host: "0.0.0.0", port: 8080 },
  admin: { host: "0.0.0.0", port: 9090 },
  issuers: [
    {
      id: "pool",
      cognito: { region: "eu-west-1", userPoolId: "eu-west-1_AbCdEf123" },
      clientIds: ["1example23456789"],
    },
    {
      id: "local",
      issuer: "http://127.0.0.1:9229/local_abc",
      jwksUri: "http://127.0.0.1:9229/local_abc/.well-known/jwks.json",
      clientIds: ["abc"],
    },
  ],
  routes: [
    {
      id: "status",
      match: { pathPrefix: "/status" },
      upstream: "http://127.0.0.1:3000",
      auth: { mode: "public" },
    },
    {
      id: "orders",
      match: { pathPrefix: "/api/orders", methods: ["GET", "POST"] },
      upstream: "http://127.0.0.1:3000",
      auth: {
        mode: "required",
        issuers: ["pool", "local"],
        tokenUse: "access",
        scopes: ["orders/read"],
        groups: ["admin", "staff"],
        claims: { "custom:tenant": "acme" },
      },
    },
  ],
};

const { edited, check } = configEdits(EXAMPLE);

t.test("the example is valid", async (t) => {
  const config: Config = parseConfig(edited([]));
  t.strictSame(
    config.routes.map((r) => r.id),
    ["status", "orders"],
  );
});

t.test("wrong types", async (t) => {
  check(t, [
    [
      "scopes not a list",
      [["routes.1.auth.scopes", "orders/read"]],
      ["routes[1].auth.scopes: expected a list of strings"],
    ],
    [
      "groups not a list",
      [["routes.1.auth.groups", { admin: true }]],
      ["routes[1].auth.groups: expected a list of strings"],
    ],
    [
      "scope not a string",
      [["routes.1.auth.scopes", ["a", 1]]],
      ["routes[1].auth.scopes[1]: expected a string"],
    ],
    ["empty scope", [["routes.1.auth.scopes", [""]]], ["routes[1].auth.scopes[0]: must not be empty"]],
    ["issuers not a list", [["issuers", { pool: {} }]], ["issuers: expected a list of issuers"]],
    ["routes not a list", [["routes", "orders"]], ["routes: expected a list of routes"]],
    [
      "route issuers not a list",
      [["routes.1.auth.issuers", "pool"]],
      ["routes[1].auth.issuers: expected a list of issuer ids"],
    ],
    ["route issuers empty", [["routes.1.auth.issuers", []]], ["routes[1].auth.issuers: must not be empty"]],
    [
      "bad id",
      [["routes.0.id", "-status"]],
      ["routes[0].id: expected an id: letters, digits, '.', '_' or '-', at most 64 characters"],
    ],
    [
      "id too long",
      [["routes.0.id", "a".repeat(65)]],
      ["routes[0].id: expected an id: letters, digits, '.', '_' or '-', at most 64 characters"],
    ],
    ["id not a string", [["issuers.0.id", 5]], ["issuers[0].id: expected an id"]],
    [
      "mode",
      [["routes.1.auth.mode", "maybe"]],
      ["routes[1].auth.mode: expected required, optional, public or authenticate"],
    ],
    [
      "tokenUse",
      [["routes.1.auth.tokenUse", "refresh"]],
      ["routes[1].auth.tokenUse: expected access, id or any"],
    ],
    [
      "mode, misspelt",
      [["routes.1.auth.mode", "requird"]],
      ['routes[1].auth.mode: expected required, optional, public or authenticate (did you mean "required"?)'],
    ],
    [
      "tokenUse, in capitals",
      [["routes.1.auth.tokenUse", "ID"]],
      ['routes[1].auth.tokenUse: expected access, id or any (did you mean "id"?)'],
    ],
    [
      "log level",
      [["log", { level: "loud" }]],
      ["log.level: expected trace, debug, info, warn, error, fatal or silent"],
    ],
    ["port not a number", [["listen.port", "http"]], ["listen.port: expected a whole number"]],
    ["port fraction", [["listen.port", 80.5]], ["listen.port: expected a whole number"]],
    ["port too large", [["listen.port", 65536]], ["listen.port: expected a number from 0 to 65535"]],
    [
      "limit too small",
      [["limits", { maxTokenBytes: 100 }]],
      ["limits.maxTokenBytes: expected a number from 256 to 65536"],
    ],
    ["empty host", [["listen.host", ""]], ["listen.host: must not be empty"]],
    ["boolean", [["routes.0.stripPrefix", "yes"]], ["routes[0].stripPrefix: expected true or false"]],
    [
      "claims not a map",
      [["routes.1.auth.claims", ["custom:tenant"]]],
      ["routes[1].auth.claims: expected a map of claim names to strings, numbers or booleans"],
    ],
    [
      "claimHeaders not a map",
      [["routes.1.auth.claimHeaders", "x-tenant"]],
      ["routes[1].auth.claimHeaders: expected a map of header names to claim names"],
    ],
    [
      "bad claim header name",
      [["routes.1.auth.claimHeaders", { "x tenant": "custom:tenant" }]],
      ['routes[1].auth.claimHeaders["x tenant"]: expected a map of header names to claim names'],
    ],
    [
      "empty claim name for a header",
      [["routes.1.auth.claimHeaders", { "x-tenant": "" }]],
      ['routes[1].auth.claimHeaders["x-tenant"]: must not be empty'],
    ],
    [
      "bad method",
      [["routes.1.match.methods", ["get"]]],
      ["routes[1].match.methods[0]: expected an HTTP method in capitals"],
    ],
    [
      "methods empty",
      [["routes.1.match.methods", []]],
      ["routes[1].match.methods: must not be empty (leave it out to match every method)"],
    ],
    [
      "methods not a list",
      [["routes.1.match.methods", "GET"]],
      ["routes[1].match.methods: expected a list of HTTP methods"],
    ],
    [
      "hosts not a list",
      [["routes.1.match.hosts", "a.example"]],
      ["routes[1].match.hosts: expected a list of host names"],
    ],
    [
      "hosts empty",
      [["routes.1.match.hosts", []]],
      ["routes[1].match.hosts: must not be empty (leave it out to match every host)"],
    ],
    [
      "bad host patterns",
      [["routes.1.match.hosts", ["ok.example", "*.", "a.*.example", "bad host", "a..b", "*.good.example"]]],
      [
        "routes[1].match.hosts[1]: expected a host name or *.domain",
        "routes[1].match.hosts[2]: expected a host name or *.domain",
        "routes[1].match.hosts[3]: expected a host name or *.domain",
        "routes[1].match.hosts[4]: expected a host name or *.domain",
      ],
    ],
    [
      "path and pathPrefix",
      [["routes.0.match.path", "/status"]],
      ["routes[0].match: expected path or pathPrefix, not both"],
    ],
    [
      "token source: none",
      [["routes.1.auth.token", {}]],
      ["routes[1].auth.token: expected exactly one of header, cookie or query"],
    ],
    [
      "token source: two",
      [["routes.1.auth.token", { header: "x-token", cookie: "tok" }]],
      ["routes[1].auth.token: expected exactly one of header, cookie or query"],
    ],
    [
      "token header name",
      [["routes.1.auth.token", { header: "x token" }]],
      ["routes[1].auth.token.header: expected a header name"],
    ],
    [
      "token cookie empty",
      [["routes.1.auth.token", { cookie: "" }]],
      ["routes[1].auth.token.cookie: must not be empty"],
    ],
  ]);
});

t.test("route paths must be unambiguous paths", async (t) => {
  const why = "expected a path starting with /, without query, fragment or ambiguous segments";
  const cases: Array<[key: "path" | "pathPrefix", value: string]> = [
    ["pathPrefix", "status"],
    ["pathPrefix", "/a b"],
    ["pathPrefix", "/.."],
    ["pathPrefix", "/a/../.."],
    ["pathPrefix", "/a%2Fb"],
    ["pathPrefix", "/a%zz"],
    ["pathPrefix", "/api?admin=1"],
    ["pathPrefix", "/api#x"],
    ["pathPrefix", "/é"],
    ["path", "/a\\b"],
    ["path", "/x?y"],
  ];
  for (const [key, value] of cases) {
    const match = key === "path" ? { path: value } : { pathPrefix: value };
    t.strictSame(problemsOf(edited([["routes.0.match", match]])), [`routes[0].match.${key}: ${why}`], value);
  }
  t.strictSame(
    problemsOf(edited([["routes.0.match", { pathPrefix: "" }]])),
    ["routes[0].match.pathPrefix: must not be empty", `routes[0].match.pathPrefix: ${why}`],
    "empty (said twice)",
  );
  for (const ok of ["/", "/a/", "//a/./b", "/a/%7e", "/a/b/..", "/%C3%A9"]) {
    t.doesNotThrow(() => parseConfig(edited([["routes.0.match", { pathPrefix: ok }]])), ok);
  }
});

t.test("unknown keys", async (t) => {
  check(t, [
    ["in match", [["routes.0.match.foo", 1]], ["routes[0].match.foo: unknown key"]],
    [
      "two in one object",
      [
        ["routes.0.match.foo", 1],
        ["routes.0.match.bar", 2],
      ],
      ["routes[0].match.foo: unknown key", "routes[0].match.bar: unknown key"],
    ],
    ["top level", [["listn", {}]], ['listn: unknown key (did you mean "listen"?)']],
    ["in an issuer", [["issuers.0.region", "eu-west-1"]], ["issuers[0].region: unknown key"]],
    ["in cognito", [["issuers.0.cognito.poolId", "x"]], ["issuers[0].cognito.poolId: unknown key"]],
    [
      "in auth",
      [["routes.1.auth.scope", ["a"]]],
      ['routes[1].auth.scope: unknown key (did you mean "scopes"?)'],
    ],
    [
      "in the upstream object",
      [["routes.0.upstream", { url: "http://h", retries: 3 }]],
      ["routes[0].upstream.retries: unknown key"],
    ],
    ["in listen", [["listen.http2", true]], ["listen.http2: unknown key"]],
    [
      "trustForwardedHeaders belongs to listen only",
      [["admin.trustForwardedHeaders", true]],
      ["admin.trustForwardedHeaders: unknown key"],
    ],
    ["in limits", [["limits", { maxBodyBytes: 1 }]], ["limits.maxBodyBytes: unknown key"]],
    ["quoted in the path", [["routes.0.match.x-y", 1]], ['routes[0].match["x-y"]: unknown key']],
  ]);
});

t.test("missing required keys", async (t) => {
  check(t, [
    ["routes", [["routes", REMOVE]], ["routes: required"]],
    ["no routes", [["routes", []]], ["routes: expected at least one route"]],
    ["route id", [["routes.1.id", REMOVE]], ["routes[1].id: required"]],
    ["upstream", [["routes.0.upstream", REMOVE]], ["routes[0].upstream: required"]],
    ["upstream url", [["routes.0.upstream", { timeoutMs: 5 }]], ["routes[0].upstream.url: required"]],
    ["issuer id", [["issuers.0.id", REMOVE]], ["issuers[0].id: required"]],
    ["cognito region", [["issuers.0.cognito.region", REMOVE]], ["issuers[0].cognito.region: required"]],
    ["cognito pool", [["issuers.0.cognito.userPoolId", REMOVE]], ["issuers[0].cognito.userPoolId: required"]],
    ["jwksUri with issuer", [["issuers.1.jwksUri", REMOVE]], ["issuers[1].jwksUri: required with issuer"]],
    [
      "clientIds",
      [["issuers.0.clientIds", REMOVE]],
      [
        "issuers[0].clientIds: required: list the app clients whose tokens are accepted, or set anyClient: true",
      ],
    ],
    [
      "neither cognito nor issuer",
      [["issuers.0.cognito", REMOVE]],
      ["issuers[0]: expected exactly one of cognito or issuer"],
    ],
    [
      "both cognito and issuer",
      [
        ["issuers.0.issuer", "https://idp.example/"],
        ["issuers.0.jwksUri", "https://idp.example/jwks"],
      ],
      ["issuers[0]: expected exactly one of cognito or issuer"],
    ],
  ]);
  t.strictSame(problemsOf(null), ["routes: required"], "an empty document");
  t.strictSame(problemsOf(undefined), ["routes: required"], "no document");
});

t.test("keys that may be left out", async (t) => {
  const config = parseConfig(
    edited([
      ["routes.0.match", REMOVE],
      ["routes.0.auth", REMOVE],
      ["issuers.0.clientIds", REMOVE],
      ["issuers.0.anyClient", true],
    ]),
  );
  const route = config.routes[0];
  t.strictSame(route?.match, { caseSensitive: false }, "match defaults to every request");
  t.equal(route?.auth.mode, "required", "auth defaults to required");
  t.equal(config.issuers[0]?.anyClient, true);
  t.equal(config.issuers[0]?.clientIds, undefined);
});

t.test("URLs", async (t) => {
  const why = "expected an http:// or https:// URL without credentials";
  check(t, [
    ["not a URL", [["routes.0.upstream", "127.0.0.1:3000"]], [`routes[0].upstream.url: ${why}`]],
    ["ftp", [["routes.0.upstream", "ftp://127.0.0.1/"]], [`routes[0].upstream.url: ${why}`]],
    [
      "credentials",
      [["routes.0.upstream", "http://user:pw@127.0.0.1:3000"]],
      [`routes[0].upstream.url: ${why}`],
    ],
    ["user only", [["routes.0.upstream", "http://user@127.0.0.1:3000"]], [`routes[0].upstream.url: ${why}`]],
    ["object form", [["routes.0.upstream", { url: "nope" }]], [`routes[0].upstream.url: ${why}`]],
    [
      "query",
      [["routes.0.upstream", "http://127.0.0.1:3000/base?x=1"]],
      ["routes[0].upstream.url: must not have a query or fragment"],
    ],
    [
      "fragment",
      [["routes.0.upstream", "http://127.0.0.1:3000/#x"]],
      ["routes[0].upstream.url: must not have a query or fragment"],
    ],
    ["a number", [["routes.0.upstream", 3000]], ["routes[0].upstream: expected a URL or an object with url"]],
    [
      "timeout",
      [["routes.0.upstream", { url: "http://h", timeoutMs: 0 }]],
      ["routes[0].upstream.timeoutMs: expected a number from 1 to 3600000"],
    ],
    ["issuer", [["issuers.1.issuer", "127.0.0.1:9229"]], [`issuers[1].issuer: ${why}`]],
    ["jwksUri", [["issuers.1.jwksUri", "file:///etc/jwks.json"]], [`issuers[1].jwksUri: ${why}`]],
  ]);
  const config = parseConfig(
    edited([["routes.0.upstream", { url: "https://up.example/base", timeoutMs: 1500 }]]),
  );
  t.strictSame(
    config.routes[0]?.upstream,
    { url: "https://up.example/base", timeoutMs: 1500 },
    "object form",
  );
});

t.test("plain http for issuers: loopback only, unless allowInsecureHttp", async (t) => {
  const why = "plain http is allowed only for loopback hosts unless allowInsecureHttp is true";
  check(t, [
    ["jwksUri", [["issuers.1.jwksUri", "http://idp.example/jwks"]], [`issuers[1].jwksUri: ${why}`]],
    [
      "issuer and jwksUri",
      [
        ["issuers.1.issuer", "http://idp.example/x"],
        ["issuers.1.jwksUri", "http://10.0.0.5/jwks"],
      ],
      [`issuers[1].issuer: ${why}`, `issuers[1].jwksUri: ${why}`],
    ],
    [
      "jwksUri on a cognito issuer",
      [["issuers.0.jwksUri", "http://idp.example/jwks"]],
      [`issuers[0].jwksUri: ${why}`],
    ],
  ]);
  const ok: Array<[string, Edit[]]> = [
    ["localhost", [["issuers.1.jwksUri", "http://localhost:9229/jwks"]]],
    ["IPv6 loopback", [["issuers.1.jwksUri", "http://[::1]:9229/jwks"]]],
    ["https", [["issuers.1.jwksUri", "https://idp.example/jwks"]]],
    [
      "allowInsecureHttp",
      [
        ["issuers.1.jwksUri", "http://idp.example/jwks"],
        ["issuers.1.allowInsecureHttp", true],
      ],
    ],
    [
      "allowInsecureHttp as text",
      [
        ["issuers.1.issuer", "http://idp.example/x"],
        ["issuers.1.allowInsecureHttp", "true"],
      ],
    ],
  ];
  for (const [name, edits] of ok) t.doesNotThrow(() => parseConfig(edited(edits)), name);
});

t.test("cognito issuers", async (t) => {
  check(t, [
    [
      "user pool in another region",
      [["issuers.0.cognito.userPoolId", "us-east-1_AbCdEf123"]],
      ["issuers[0].cognito.userPoolId: belongs to region us-east-1, not eu-west-1"],
    ],
    [
      "bad region (no second message comparing it with the pool's region)",
      [["issuers.0.cognito.region", "Europe"]],
      ["issuers[0].cognito.region: expected a region like eu-west-1"],
    ],
    [
      "bad user pool id",
      [["issuers.0.cognito.userPoolId", "AbCdEf123"]],
      ["issuers[0].cognito.userPoolId: expected a user pool id like eu-west-1_AbCdEf123"],
    ],
    ["clientIds empty", [["issuers.0.clientIds", []]], ["issuers[0].clientIds: must not be empty"]],
    [
      "anyClient with clientIds",
      [["issuers.0.anyClient", true]],
      ["issuers[0].anyClient: contradicts clientIds"],
    ],
  ]);
  t.doesNotThrow(() =>
    parseConfig(edited([["issuers.0.cognito", { region: "us-gov-west-1", userPoolId: "us-gov-west-1_x1" }]])),
  );
});

t.test("duplicates", async (t) => {
  check(t, [
    [
      "issuer id",
      [["issuers.1.id", "pool"]],
      ['issuers[1].id: duplicate issuer id "pool"', 'routes[1].auth.issuers[1]: unknown issuer "local"'],
    ],
    ["route id", [["routes.1.id", "status"]], ['routes[1].id: duplicate route id "status"']],
    [
      "issuer URL",
      [
        [
          "issuers.1",
          {
            id: "again",
            cognito: { region: "eu-west-1", userPoolId: "eu-west-1_AbCdEf123" },
            anyClient: true,
          },
        ],
        ["routes.1.auth.issuers", ["pool"]],
      ],
      ["issuers[1]: duplicate issuer https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"],
    ],
    [
      "claim header named twice",
      [["routes.1.auth.claimHeaders", { "X-Tenant": "custom:tenant", "x-tenant": "custom:org" }]],
      ['routes[1].auth.claimHeaders["x-tenant"]: is named twice (header names ignore case)'],
    ],
  ]);
});

t.test("route issuers must be declared", async (t) => {
  check(t, [
    [
      "unknown",
      [["routes.1.auth.issuers", ["pool", "nope"]]],
      ['routes[1].auth.issuers[1]: unknown issuer "nope"'],
    ],
    [
      "ids are exact",
      [["routes.1.auth.issuers", ["Pool"]]],
      ['routes[1].auth.issuers[0]: unknown issuer "Pool"'],
    ],
    [
      "no issuers at all",
      [
        ["issuers", REMOVE],
        ["routes.1.auth.issuers", REMOVE],
      ],
      ["routes[1].auth.mode: required needs at least one entry in issuers"],
    ],
    [
      "optional needs issuers too",
      [
        ["issuers", []],
        ["routes.1.auth", { mode: "optional" }],
      ],
      ["routes[1].auth.mode: optional needs at least one entry in issuers"],
    ],
    [
      "auth left out means required",
      [
        ["issuers", []],
        ["routes.1.auth", REMOVE],
      ],
      ["routes[1].auth.mode: required needs at least one entry in issuers"],
    ],
  ]);
});

t.test("rules on a public route are refused", async (t) => {
  check(t, [
    [
      "every rule",
      [
        [
          "routes.0.auth",
          {
            mode: "public",
            issuers: ["pool"],
            tokenUse: "access",
            scopes: ["a"],
            groups: ["g"],
            claims: { c: 1 },
            claimHeaders: { "x-c": "c" },
            token: { cookie: "tok" },
            forwardToken: false,
          },
        ],
      ],
      [
        "routes[0].auth.tokenUse: has no effect on a public route",
        "routes[0].auth.issuers: has no effect on a public route",
        "routes[0].auth.scopes: has no effect on a public route",
        "routes[0].auth.groups: has no effect on a public route",
        "routes[0].auth.claims: has no effect on a public route",
        "routes[0].auth.claimHeaders: has no effect on a public route",
        "routes[0].auth.token: has no effect on a public route",
        "routes[0].auth.forwardToken: has no effect on a public route",
      ],
    ],
    [
      "one scope",
      [["routes.0.auth.scopes", ["a"]]],
      ["routes[0].auth.scopes: has no effect on a public route"],
    ],
  ]);
  const fine = parseConfig(
    edited([
      ["routes.0.auth", { mode: "public", tokenUse: "any", scopes: [], token: { header: "Authorization" } }],
    ]),
  );
  t.equal(fine.routes[0]?.auth.mode, "public", "the defaults, written out, are fine");
});

t.test("claim headers may not take reserved names", async (t) => {
  const cases: Array<[name: string, problem: string]> = [
    ["Authorization", "routes[1].auth.claimHeaders.Authorization: is a reserved header"],
    ["host", "routes[1].auth.claimHeaders.host: is a reserved header"],
    ["Connection", "routes[1].auth.claimHeaders.Connection: is a reserved header"],
    ["keep-alive", 'routes[1].auth.claimHeaders["keep-alive"]: is a reserved header'],
    ["proxy-authorization", 'routes[1].auth.claimHeaders["proxy-authorization"]: is a reserved header'],
    ["te", "routes[1].auth.claimHeaders.te: is a reserved header"],
    ["transfer-encoding", 'routes[1].auth.claimHeaders["transfer-encoding"]: is a reserved header'],
    ["upgrade", "routes[1].auth.claimHeaders.upgrade: is a reserved header"],
    ["content-length", 'routes[1].auth.claimHeaders["content-length"]: is a reserved header'],
    ["content-type", 'routes[1].auth.claimHeaders["content-type"]: is a reserved header'],
    ["Cookie", "routes[1].auth.claimHeaders.Cookie: is a reserved header"],
    ["x-forwarded-for", 'routes[1].auth.claimHeaders["x-forwarded-for"]: is a reserved header'],
    ["X-Forwarded-Host", 'routes[1].auth.claimHeaders["X-Forwarded-Host"]: is a reserved header'],
    ["x-forwarded-proto", 'routes[1].auth.claimHeaders["x-forwarded-proto"]: is a reserved header'],
    ["x-request-id", 'routes[1].auth.claimHeaders["x-request-id"]: is a reserved header'],
    ["forwarded", "routes[1].auth.claimHeaders.forwarded: is a reserved header"],
    ["Expect", "routes[1].auth.claimHeaders.Expect: is a reserved header"],
    ["x-auth-request-user", 'routes[1].auth.claimHeaders["x-auth-request-user"]: is set by cupbearer itself'],
    [
      "X-Auth-Request-Email",
      'routes[1].auth.claimHeaders["X-Auth-Request-Email"]: is set by cupbearer itself',
    ],
    [
      "x-auth-request-groups",
      'routes[1].auth.claimHeaders["x-auth-request-groups"]: is set by cupbearer itself',
    ],
  ];
  for (const [name, problem] of cases) {
    t.strictSame(problemsOf(edited([["routes.1.auth.claimHeaders", { [name]: "sub" }]])), [problem], name);
  }
  const ok = parseConfig(edited([["routes.1.auth.claimHeaders", { "X-Tenant": "custom:tenant" }]]));
  t.strictSame(ok.routes[1]?.auth.claimHeaders, { "X-Tenant": "custom:tenant" });
});

t.test("stripPrefix needs match.pathPrefix", async (t) => {
  check(t, [
    [
      "with path",
      [
        ["routes.0.match", { path: "/status" }],
        ["routes.0.stripPrefix", true],
      ],
      ["routes[0].stripPrefix: needs match.pathPrefix"],
    ],
    [
      "with no path rule",
      [
        ["routes.0.match", {}],
        ["routes.0.stripPrefix", true],
      ],
      ["routes[0].stripPrefix: needs match.pathPrefix"],
    ],
  ]);
  const config = parseConfig(edited([["routes.1.stripPrefix", "true"]]));
  t.equal(config.routes[1]?.stripPrefix, true, "with pathPrefix");
  const off = parseConfig(
    edited([
      ["routes.0.match", {}],
      ["routes.0.stripPrefix", "false"],
    ]),
  );
  t.equal(off.routes[0]?.stripPrefix, false, "'false' from the environment is false, and needs no prefix");
});

t.test("the admin port must differ from the listen port on a shared address", async (t) => {
  check(t, [
    ["both on 0.0.0.0", [["admin.port", 8080]], ["admin.port: must differ from listen.port"]],
    [
      "listen on any address",
      [["admin", { host: "127.0.0.1", port: 8080 }]],
      ["admin.port: must differ from listen.port"],
    ],
    [
      "admin on ::",
      [
        ["listen.host", "127.0.0.1"],
        ["admin", { host: "::", port: 8080 }],
      ],
      ["admin.port: must differ from listen.port"],
    ],
    [
      "same host",
      [
        ["listen", { host: "127.0.0.1", port: 9090 }],
        ["admin", REMOVE],
      ],
      ["admin.port: must differ from listen.port"],
    ],
  ]);
  const ok: Array<[string, Edit[]]> = [
    [
      "both port 0",
      [
        ["listen.port", 0],
        ["admin.port", 0],
      ],
    ],
    [
      "different hosts",
      [
        ["listen", { host: "127.0.0.1", port: 9000 }],
        ["admin", { host: "10.0.0.1", port: 9000 }],
      ],
    ],
  ];
  for (const [name, edits] of ok) t.doesNotThrow(() => parseConfig(edited(edits)), name);
});

t.test("the headers timeout may not exceed the request timeout", async (t) => {
  check(t, [
    [
      "headers after request",
      [["limits", { headersTimeoutMs: 5000, requestTimeoutMs: 4000 }]],
      ["limits.headersTimeoutMs: must not exceed limits.requestTimeoutMs"],
    ],
  ]);
  t.doesNotThrow(() => parseConfig(edited([["limits", { headersTimeoutMs: 4000, requestTimeoutMs: 4000 }]])));
});

t.test("several problems are reported together", async (t) => {
  check(t, [
    [
      "shape problems across the document",
      [
        ["listen.port", "x"],
        ["issuers.0.cognito.region", "Europe"],
        ["routes.0.match.foo", 1],
        ["routes.1.upstream", "ftp://h"],
        ["routes.1.auth.scopes", "orders/read"],
      ],
      [
        "listen.port: expected a whole number",
        "issuers[0].cognito.region: expected a region like eu-west-1",
        "routes[0].match.foo: unknown key",
        "routes[1].upstream.url: expected an http:// or https:// URL without credentials",
        "routes[1].auth.scopes: expected a list of strings",
      ],
    ],
    [
      "cross-checks across the document",
      [
        ["issuers.0.cognito.userPoolId", "us-east-1_AbCdEf123"],
        ["routes.1.id", "status"],
        ["routes.1.auth.issuers", ["pool", "nope"]],
        ["routes.0.auth.scopes", ["a"]],
        ["admin.port", 8080],
      ],
      [
        "issuers[0].cognito.userPoolId: belongs to region us-east-1, not eu-west-1",
        "routes[0].auth.scopes: has no effect on a public route",
        'routes[1].id: duplicate route id "status"',
        'routes[1].auth.issuers[1]: unknown issuer "nope"',
        "admin.port: must differ from listen.port",
      ],
    ],
    [
      "unknown keys with cross-checks",
      [
        ["routes.0.match.foo", 1],
        ["routes.1.id", "status"],
      ],
      ["routes[0].match.foo: unknown key", 'routes[1].id: duplicate route id "status"'],
    ],
  ]);
});

t.test("shape problems and cross-check problems are reported together", async (t) => {
  check(t, [
    [
      "a wrong type and a duplicate id",
      [
        ["routes.1.auth.scopes", "orders/read"],
        ["routes.1.id", "status"],
      ],
      ["routes[1].auth.scopes: expected a list of strings", 'routes[1].id: duplicate route id "status"'],
    ],
  ]);
});

t.test("messages are cupbearer's own, never zod's defaults", async (t) => {
  const cases: Edit[][] = [
    [["routes.1.match.hosts", [1]]],
    [["routes.1.match.methods", [2]]],
    [["routes.1.auth.claims", { "custom:tenant": ["acme"] }]],
    [["listen", 5]],
    [["limits", "big"]],
  ];
  for (const edits of cases) {
    for (const problem of problemsOf(edited(edits))) t.notMatch(problem, /Invalid input/, problem);
  }
  t.notMatch(problemsOf(42).join(), /Invalid input/, "a document that is not a map");
});

t.test("checkConfig: the config, or every problem with its path", async (t) => {
  const valid = checkConfig(edited([]));
  t.strictSame(valid.problems, []);
  t.equal(valid.config?.routes.length, 2);
  const invalid = checkConfig(
    edited([
      ["routes.1.auth.scopes", "orders/read"],
      ["routes.1.id", "status"],
    ]),
  );
  t.equal(invalid.config, undefined);
  t.strictSame(invalid.problems, [
    { path: ["routes", 1, "auth", "scopes"], message: "expected a list of strings" },
    { path: ["routes", 1, "id"], message: 'duplicate route id "status"' },
  ]);
  t.strictSame(
    checkConfig(edited([["admin.port", 8080]])).problems,
    [{ path: ["admin", "port"], message: "must differ from listen.port" }],
    "cross-checks run on a document the shape accepts",
  );
});

t.test("a value the shape refuses is reported once: no cross-check reads it", async (t) => {
  const notAnId = "expected an id: letters, digits, '.', '_' or '-', at most 64 characters";
  check(t, [
    [
      "a rule of the wrong type on a public route",
      [["routes.0.auth.scopes", "a"]],
      ["routes[0].auth.scopes: expected a list of strings"],
    ],
    [
      "an unknown mode, without issuers",
      [
        ["issuers", []],
        ["routes.1.auth", { mode: "maybe" }],
      ],
      ["routes[1].auth.mode: expected required, optional, public or authenticate"],
    ],
    [
      "listeners that are not mappings",
      [
        ["listen", "false"],
        ["admin", "status"],
      ],
      ["listen: expected a mapping", "admin: expected a mapping"],
    ],
    [
      "an issuer that is not a mapping",
      [
        ["issuers.1", "s3"],
        ["routes.1.auth.issuers", ["pool"]],
      ],
      ["issuers[1]: expected a mapping"],
    ],
    [
      "a reference that is not an id",
      [["routes.1.auth.issuers.1", "http://h"]],
      [`routes[1].auth.issuers[1]: ${notAnId}`],
    ],
    [
      "match not a mapping, with stripPrefix",
      [
        ["routes.0.match", "/status"],
        ["routes.0.stripPrefix", true],
      ],
      ["routes[0].match: expected a mapping"],
    ],
    [
      "a limit out of range is not compared",
      [["limits", { headersTimeoutMs: 5000, requestTimeoutMs: 0 }]],
      ["limits.requestTimeoutMs: expected a number from 100 to 3600000"],
    ],
  ]);
});

t.test(
  "hardening keys: caseSensitive, forwardRewriteHeaders, maxTokenLifetimeSeconds; no CONNECT",
  async (t) => {
    const config = parseConfig(
      edited([
        ["routes.1.match.caseSensitive", true],
        ["routes.1.forwardRewriteHeaders", ["x-http-method-override", "X-Original-URL"]],
        ["issuers.0.maxTokenLifetimeSeconds", "3600"],
      ]),
    );
    t.equal(config.routes[1]?.match.caseSensitive, true);
    t.equal(config.routes[0]?.match.caseSensitive, false, "default: letter case ignored");
    t.strictSame(config.routes[1]?.forwardRewriteHeaders, ["x-http-method-override", "X-Original-URL"]);
    t.strictSame(config.routes[0]?.forwardRewriteHeaders, []);
    t.equal(config.issuers[0]?.maxTokenLifetimeSeconds, 3600);
    t.equal(config.issuers[1]?.maxTokenLifetimeSeconds, 86_400, "default: one day");
    check(t, [
      [
        "an ordinary header is not a rewrite header",
        [["routes.1.forwardRewriteHeaders", ["X-Auth-Request-User"]]],
        [
          "routes[1].forwardRewriteHeaders[0]: expected one of X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override, X-Original-URL, X-Rewrite-URL, X-Envoy-Original-Path",
        ],
      ],
      [
        "CONNECT",
        [["routes.1.match.methods", ["GET", "CONNECT"]]],
        ["routes[1].match.methods[1]: CONNECT is never proxied: cupbearer opens no tunnels"],
      ],
      [
        "lifetime out of range",
        [["issuers.0.maxTokenLifetimeSeconds", 59]],
        ["issuers[0].maxTokenLifetimeSeconds: expected a number from 60 to 2592000"],
      ],
      [
        "a scope that cannot be quoted in a challenge",
        [["routes.1.auth.scopes", ['a"b', "c d"]]],
        [
          'routes[1].auth.scopes[0]: expected a scope: printable ASCII without spaces, " or \\',
          'routes[1].auth.scopes[1]: expected a scope: printable ASCII without spaces, " or \\',
        ],
      ],
      [
        "caseSensitive not a boolean",
        [["routes.1.match.caseSensitive", "maybe"]],
        ["routes[1].match.caseSensitive: expected true or false"],
      ],
    ]);
  },
);

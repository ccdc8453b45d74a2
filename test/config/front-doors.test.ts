/**
 * The config keys of cupbearer's front doors: `routes[].cors`, with exact messages for every
 * refusal and every default filled in.
 */
import t from "tap";
import { parseConfig } from "../../src/config/schema.js";
import { type Config, ConfigError } from "../../src/config/types.js";

const ISSUER = {
  id: "pool",
  issuer: "http://127.0.0.1:9/x",
  jwksUri: "http://127.0.0.1:9/x/jwks",
  anyClient: true,
};

function withRoute(extra: Record<string, unknown>, top: Record<string, unknown> = {}): unknown {
  return { issuers: [ISSUER], routes: [{ id: "api", upstream: "http://127.0.0.1:3000", ...extra }], ...top };
}

function problems(doc: unknown): string[] {
  try {
    parseConfig(doc);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

t.test("cors: defaults", async (t) => {
  const config: Config = parseConfig(withRoute({ cors: { allowOrigins: ["https://app.example.com"] } }));
  t.same(config.routes[0]?.cors, {
    allowOrigins: ["https://app.example.com"],
    allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    allowHeaders: ["Authorization", "Content-Type"],
    exposeHeaders: [],
    allowCredentials: false,
    maxAgeSeconds: 600,
  });
  t.equal(parseConfig(withRoute({})).routes[0]?.cors, undefined, "no cors unless asked");
});

t.test("cors: every problem, in words", async (t) => {
  const cases: Array<[string, unknown, string[]]> = [
    ["no origins", { allowOrigins: [] }, ["routes[0].cors.allowOrigins: must not be empty"]],
    ["origins missing", {}, ["routes[0].cors.allowOrigins: required"]],
    [
      "an origin with a path, a trailing slash, another scheme, a default port",
      {
        allowOrigins: [
          "https://app.example.com/x",
          "https://app.example.com/",
          "ftp://app.example.com",
          "https://app.example.com:443",
          "https://APP.example.com",
          "null",
        ],
      },
      [0, 1, 2, 3, 4, 5].map(
        (i) =>
          `routes[0].cors.allowOrigins[${i}]: expected an origin like https://app.example.com (scheme, host and port only) or *`,
      ),
    ],
    [
      "* with credentials",
      { allowOrigins: ["*"], allowCredentials: true },
      [
        "routes[0].cors.allowCredentials: contradicts allowOrigins: * (list the origins that may send credentials)",
      ],
    ],
    [
      "* beside an origin",
      { allowOrigins: ["*", "https://a.example"] },
      ["routes[0].cors.allowOrigins: * stands alone: it already allows every origin"],
    ],
    [
      "wildcard headers, lower-case methods, an age too long, an unknown key",
      {
        allowOrigins: ["https://a.example"],
        allowHeaders: ["*"],
        allowMethods: ["get"],
        maxAgeSeconds: 86_401,
        x: 1,
      },
      [
        "routes[0].cors.allowMethods[0]: expected an HTTP method in capitals",
        "routes[0].cors.allowHeaders[0]: list the header names: * does not cover Authorization",
        "routes[0].cors.maxAgeSeconds: expected a number from 0 to 86400",
        "routes[0].cors.x: unknown key",
      ],
    ],
  ];
  for (const [name, cors, want] of cases) t.same(problems(withRoute({ cors })), want, name);
  t.same(problems(withRoute({ cors: { allowOrigins: ["*"] } })), [], "* alone without credentials is fine");
  t.same(
    problems(
      withRoute({
        cors: { allowOrigins: ["http://127.0.0.1:5173", "https://[::1]:8443"], allowCredentials: true },
      }),
    ),
    [],
    "ports and IPv6 literals, with credentials",
  );
});

t.test("forwardAuth: defaults", async (t) => {
  const config = parseConfig(
    withRoute({}, { forwardAuth: { ingress: "nginx", trustedSources: ["10.0.0.0/8"] } }),
  );
  t.same(config.forwardAuth, {
    path: "/_cupbearer/auth",
    ingress: "nginx",
    listener: "main",
    trustedSources: ["10.0.0.0/8"],
  });
  t.equal(parseConfig(withRoute({})).forwardAuth, undefined, "no endpoint unless asked");
});

t.test("forwardAuth: every problem, in words", async (t) => {
  const cases: Array<[string, unknown, string[]]> = [
    [
      "empty",
      {},
      ["forwardAuth.ingress: expected nginx, traefik or envoy", "forwardAuth.trustedSources: required"],
    ],
    [
      "no sources, a bad listener, a relative path",
      { ingress: "istio", trustedSources: [], listener: "both", path: "auth" },
      [
        "forwardAuth.path: expected a path starting with /, without query, fragment or ambiguous segments",
        "forwardAuth.ingress: expected nginx, traefik or envoy",
        "forwardAuth.listener: expected main or admin",
        "forwardAuth.trustedSources: must not be empty: list the addresses of the ingress",
      ],
    ],
    [
      "bad CIDRs",
      { ingress: "traefik", trustedSources: ["10.0.0.0/33", "ingress.local", "0.0.0.0/0"] },
      [0, 1].map(
        (i) =>
          `forwardAuth.trustedSources[${i}]: expected a CIDR like 10.0.0.0/8 or fd00::/8, or one address`,
      ),
    ],
    [
      "an admin path",
      { ingress: "nginx", trustedSources: ["::1"], listener: "admin", path: "/metrics" },
      ["forwardAuth.path: is one of the admin listener's own paths"],
    ],
    [
      "an envoy prefix ending in /",
      { ingress: "envoy", trustedSources: ["::1"], path: "/_auth/" },
      ["forwardAuth.path: must not end with / when ingress is envoy (Envoy appends the original path)"],
    ],
    [
      "an envoy prefix of /",
      { ingress: "envoy", trustedSources: ["::1"], path: "/" },
      ["forwardAuth.path: must not end with / when ingress is envoy (Envoy appends the original path)"],
    ],
  ];
  for (const [name, forwardAuth, want] of cases) t.same(problems(withRoute({}, { forwardAuth })), want, name);
  t.same(
    problems(withRoute({}, { forwardAuth: { ingress: "nginx", trustedSources: ["::1"], path: "/metrics" } })),
    [],
    "/metrics on the main listener is only a path",
  );
  t.same(
    problems(
      withRoute({}, { forwardAuth: { ingress: "traefik", trustedSources: ["::1"], path: "/_auth/" } }),
    ),
    [],
    "a trailing / is an exact path for the header shapes",
  );
  t.same(
    parseConfig(withRoute({}, { forwardAuth: { ingress: "envoy", trustedSources: ["10.0.0.0/8"] } }))
      .forwardAuth?.ingress,
    "envoy",
  );
});

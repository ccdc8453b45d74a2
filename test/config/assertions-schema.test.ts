/**
 * The config keys of signed identity assertions: top-level `assertions`, `routes[].auth.assertion`
 * and `routes[].auth.albHeaders`, with exact messages for every refusal and every default filled in.
 */
import { generateKeyPairSync } from "node:crypto";
import t from "tap";
import { parseConfig } from "../../src/config/schema.js";
import { type Config, ConfigError } from "../../src/config/types.js";

const ISSUER = {
  id: "pool",
  issuer: "http://127.0.0.1:9/x",
  jwksUri: "http://127.0.0.1:9/x/jwks",
  anyClient: true,
};
const P256 = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
const PEM = P256.export({ type: "pkcs8", format: "pem" }) as string;
const KEYS = { issuer: "https://cupbearer.example", keys: [{ privateKey: PEM }] };

function doc(
  auth: Record<string, unknown>,
  top: Record<string, unknown> = { assertions: KEYS },
  upstream: unknown = "http://127.0.0.1:3000",
) {
  return { issuers: [ISSUER], routes: [{ id: "api", upstream, auth }], ...top };
}

function problems(input: unknown): string[] {
  try {
    parseConfig(input);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

t.test("defaults", async (t) => {
  const config: Config = parseConfig(doc({ assertion: {}, albHeaders: true }));
  t.same(config.assertions, { ...KEYS, lifetimeSeconds: 60, cacheMaxEntries: 10_000 });
  t.same(config.routes[0]?.auth.assertion, { header: "X-Cupbearer-Assertion" });
  t.equal(config.routes[0]?.auth.albHeaders, true);
  const plain = parseConfig(doc({}, {}));
  t.equal(plain.assertions, undefined);
  t.equal(plain.routes[0]?.auth.assertion, undefined);
  t.equal(plain.routes[0]?.auth.albHeaders, false);
});

t.test("keys: every accepted form; empty entries dropped", async (t) => {
  const sec1 = P256.export({ type: "sec1", format: "pem" }) as string;
  const jwk = JSON.stringify(P256.export({ format: "jwk" }));
  const config = parseConfig(
    doc(
      {},
      {
        assertions: {
          ...KEYS,
          keys: [{ privateKey: sec1 }, { privateKey: "" }, { privateKey: jwk }, { privateKeyFile: "/k.pem" }],
        },
      },
    ),
  );
  t.equal(config.assertions?.keys.length, 3, "the empty entry (an unset VAR behind :-) is dropped");
});

t.test("every problem, in words (never the key)", async (t) => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({
    type: "pkcs8",
    format: "pem",
  }) as string;
  const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey.export({
    type: "pkcs8",
    format: "pem",
  }) as string;
  const cases: Array<[string, unknown, string[]]> = [
    ["no issuer", { keys: KEYS.keys }, ["assertions.issuer: required"]],
    ["no keys", { issuer: "x", keys: [] }, ["assertions.keys: expected at least one key"]],
    [
      "only empty keys",
      { issuer: "x", keys: [{ privateKey: "" }] },
      ["assertions.keys: expected at least one key"],
    ],
    [
      "nine keys",
      { issuer: "x", keys: Array(9).fill({ privateKey: PEM }) },
      ["assertions.keys: expected at most 8 keys"],
    ],
    [
      "both forms",
      { issuer: "x", keys: [{ privateKey: PEM, privateKeyFile: "/k" }] },
      ["assertions.keys[0]: expected exactly one of privateKey or privateKeyFile"],
    ],
    [
      "neither form",
      { issuer: "x", keys: [{}] },
      ["assertions.keys[0]: expected exactly one of privateKey or privateKeyFile"],
    ],
    [
      "an RSA key",
      { issuer: "x", keys: [{ privateKey: rsa }] },
      ["assertions.keys[0].privateKey: expected a P-256 (prime256v1) EC private key, as ES256 needs"],
    ],
    [
      "a P-384 key",
      { issuer: "x", keys: [{ privateKey: p384 }] },
      ["assertions.keys[0].privateKey: expected a P-256 (prime256v1) EC private key, as ES256 needs"],
    ],
    [
      "lifetime too long",
      { ...KEYS, lifetimeSeconds: 61 },
      ["assertions.lifetimeSeconds: expected a number from 5 to 60"],
    ],
    ["unknown key", { ...KEYS, kid: "x" }, ["assertions.kid: unknown key"]],
  ];
  for (const [name, assertions, expected] of cases) {
    t.strictSame(problems(doc({}, { assertions })), expected, name);
  }
  const text = problems(doc({}, { assertions: { issuer: "x", keys: [{ privateKey: rsa }] } })).join("\n");
  t.notMatch(text, /BEGIN|MII/, "the key's text never appears in a message");
});

t.test("routes: assertion and albHeaders need assertions, a plain upstream, a caller", async (t) => {
  const aws = {
    url: "https://s3.eu-west-1.amazonaws.com",
    aws: { service: "s3", region: "eu-west-1", identityPool: "ids" },
  };
  const pools = {
    assertions: KEYS,
    identityPools: [
      { id: "ids", identityPoolId: "eu-west-1:11111111-2222-3333-4444-555555555555", region: "eu-west-1" },
    ],
  };
  const cases: Array<[string, unknown, string[]]> = [
    [
      "no assertions",
      doc({ assertion: {}, albHeaders: true }, {}),
      [
        "routes[0].auth.assertion: needs assertions: the keys that sign it",
        "routes[0].auth.albHeaders: needs assertions: the keys that sign it",
      ],
    ],
    [
      "an AWS route",
      doc({ assertion: {}, albHeaders: true }, pools, aws),
      [
        "routes[0].auth.assertion: plain routes only: an AWS service reads no assertion (its requests are signed with SigV4)",
        "routes[0].auth.albHeaders: plain routes only: an AWS service reads no assertion (its requests are signed with SigV4)",
      ],
    ],
    [
      "a public route",
      doc({ mode: "public", assertion: {}, albHeaders: true }),
      [
        "routes[0].auth.assertion: has no effect on a public route",
        "routes[0].auth.albHeaders: has no effect on a public route",
      ],
    ],
    [
      "a reserved header",
      doc({ assertion: { header: "Host" } }),
      ["routes[0].auth.assertion.header: is a reserved header"],
    ],
    [
      "an identity header",
      doc({ assertion: { header: "X-Auth-Request-User" } }),
      ["routes[0].auth.assertion.header: is set by cupbearer itself"],
    ],
    [
      "an ALB header",
      doc({ assertion: { header: "X-Amzn-Oidc-Data" } }),
      ["routes[0].auth.assertion.header: is set by cupbearer itself"],
    ],
    [
      "a claim header",
      doc({ assertion: { header: "X-Tenant" }, claimHeaders: { "x-tenant": "custom:tenant" } }),
      ["routes[0].auth.assertion.header: is also a claimHeaders name"],
    ],
    [
      "the token's header",
      doc({ assertion: { header: "X-Token" }, token: { header: "x-token" } }),
      ["routes[0].auth.assertion.header: is the header the token is read from"],
    ],
    [
      "an ALB claim header",
      doc({ claimHeaders: { "X-Amzn-Oidc-Identity": "sub" } }),
      [`routes[0].auth.claimHeaders["X-Amzn-Oidc-Identity"]: is set by cupbearer itself`],
    ],
    ["albHeaders off needs nothing", doc({ albHeaders: false }, {}), []],
  ];
  for (const [name, input, expected] of cases) t.strictSame(problems(input), expected, name);
});

t.test("forward-auth on the admin listener keeps off the key paths", async (t) => {
  for (const path of ["/.well-known/jwks.json", "/.well-known/alb-keys/x"]) {
    t.strictSame(
      problems(
        doc(
          {},
          { forwardAuth: { ingress: "nginx", listener: "admin", path, trustedSources: ["127.0.0.1"] } },
        ),
      ),
      ["forwardAuth.path: is one of the admin listener's own paths"],
      path,
    );
  }
  // An Envoy prefix takes every path under it: one above the admin's own paths is refused too.
  for (const [path, refused] of [
    ["/.well-known", true],
    ["/.well", false],
    ["/metrics", true],
    ["/check", false],
  ] as const) {
    t.strictSame(
      problems(
        doc(
          {},
          { forwardAuth: { ingress: "envoy", listener: "admin", path, trustedSources: ["127.0.0.1"] } },
        ),
      ),
      refused ? ["forwardAuth.path: is one of the admin listener's own paths"] : [],
      `envoy ${path}`,
    );
  }
});

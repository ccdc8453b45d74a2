/**
 * The `sessions` key and `auth.mode: authenticate`: defaults, and every refusal with its exact
 * message (keys too short, paths that collide, references that do not resolve).
 */
import t from "tap";
import { parseConfig } from "../../src/config/schema.js";
import { type Config, ConfigError } from "../../src/config/types.js";

const KEY = "k".repeat(32);
const ISSUER = {
  id: "pool",
  issuer: "http://127.0.0.1:9/x",
  jwksUri: "http://127.0.0.1:9/x/jwks",
  clientIds: ["web"],
};
const SESSIONS = { issuer: "pool", clientId: "web", cookie: { keys: [KEY] } };

function doc(
  auth: Record<string, unknown>,
  top: Record<string, unknown> = {},
  match: unknown = undefined,
): unknown {
  return {
    issuers: [ISSUER],
    routes: [
      { id: "app", upstream: "http://127.0.0.1:3000", auth, ...(match === undefined ? {} : { match }) },
    ],
    ...top,
  };
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
  const config: Config = parseConfig(doc({ mode: "authenticate" }, { sessions: SESSIONS }));
  t.same(config.sessions, {
    issuer: "pool",
    clientId: "web",
    scopes: ["openid", "email", "profile"],
    callbackPath: "/oauth2/callback",
    signOutPath: "/oauth2/sign_out",
    startPath: "/oauth2/start",
    refreshBeforeSeconds: 60,
    timeoutMs: 5000,
    cookie: { name: "__Host-cupbearer", keys: [KEY], maxAgeSeconds: 28_800 },
  });
  t.equal(config.routes[0]?.auth.mode, "authenticate");
  t.equal(parseConfig(doc({})).sessions, undefined, "no sessions unless asked");
  t.same(problems(doc({ mode: "required" }, { sessions: SESSIONS })), [], "sessions on a required route");
});

t.test("every problem, in words", async (t) => {
  const cases: Array<[string, unknown, string[]]> = [
    [
      "authenticate without sessions",
      doc({ mode: "authenticate" }),
      ["routes[0].auth.mode: authenticate needs sessions"],
    ],
    [
      "an unknown mode",
      doc({ mode: "login" }),
      ["routes[0].auth.mode: expected required, optional, public or authenticate"],
    ],
    [
      "short keys, no openid, a bad cookie name, an origin with a path",
      doc(
        {},
        {
          sessions: {
            ...SESSIONS,
            scopes: ["email"],
            publicOrigin: "https://app.example.com/x",
            cookie: { name: "bad name", keys: ["short"] },
          },
        },
      ),
      [
        "sessions.scopes: must include openid",
        "sessions.publicOrigin: expected an origin: scheme, host and port only",
        "sessions.cookie.name: expected a cookie name: at most 64 token characters",
        "sessions.cookie.keys[0]: must be at least 32 characters long",
      ],
    ],
    [
      "no keys",
      doc({}, { sessions: { ...SESSIONS, cookie: { keys: [] } } }),
      ["sessions.cookie.keys: must not be empty"],
    ],
    [
      "unknown issuer, a client the issuer refuses",
      doc({}, { sessions: { ...SESSIONS, issuer: "other" } }),
      ['sessions.issuer: unknown issuer "other"'],
    ],
    [
      "a client the issuer does not accept",
      doc({}, { sessions: { ...SESSIONS, clientId: "mobile" } }),
      ["sessions.clientId: is not in issuers[pool].clientIds: its ID tokens would be refused"],
    ],
    [
      "the same path twice, and one a route matches exactly",
      doc(
        {},
        { sessions: { ...SESSIONS, callbackPath: "/auth", signOutPath: "/auth", startPath: "/auth" } },
        {
          path: "/auth",
        },
      ),
      [
        "sessions.signOutPath: must differ from callbackPath",
        "sessions.startPath: must differ from callbackPath",
        "sessions.callbackPath: is routes[0].match.path: cupbearer answers it, the route would never be used",
        "sessions.signOutPath: is routes[0].match.path: cupbearer answers it, the route would never be used",
        "sessions.startPath: is routes[0].match.path: cupbearer answers it, the route would never be used",
      ],
    ],
    [
      "the forward-auth path",
      doc(
        {},
        {
          sessions: { ...SESSIONS, signOutPath: "/_cupbearer/auth" },
          forwardAuth: { ingress: "nginx", trustedSources: ["::1"] },
        },
      ),
      ["sessions.signOutPath: is forwardAuth.path"],
    ],
    [
      "rules no session can meet",
      doc({ mode: "authenticate", tokenUse: "access", scopes: ["read"] }, { sessions: SESSIONS }),
      [
        "routes[0].auth.tokenUse: must be id or any: a session is authorized by its ID token",
        "routes[0].auth.scopes: no session could pass: ID tokens carry no scopes",
      ],
    ],
    [
      "an AWS route",
      {
        issuers: [ISSUER],
        identityPools: [
          {
            id: "ids",
            region: "eu-west-1",
            identityPoolId: "eu-west-1:00000000-0000-0000-0000-000000000000",
          },
        ],
        sessions: SESSIONS,
        routes: [
          {
            id: "s3",
            upstream: {
              url: "https://s3.eu-west-1.amazonaws.com",
              aws: { service: "s3", region: "eu-west-1", identityPool: "ids" },
            },
            auth: { mode: "authenticate" },
          },
        ],
      },
      ["routes[0].auth.mode: authenticate is for plain upstreams: AWS routes take bearer tokens only"],
    ],
  ];
  for (const [name, input, want] of cases) t.same(problems(input), want, name);
});

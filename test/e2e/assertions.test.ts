/**
 * Signed identity assertions end to end: real tokens from cognito-local, cupbearer in between, a
 * recording upstream; the assertion verified by jose against the admin listener's JWKS over HTTP,
 * and ALB's x-amzn-oidc-data verified by PyJWT the way AWS documents it (key fetched by kid).
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  exportJWK,
  jwtVerify,
} from "jose";
import t, { type Test } from "tap";
import { seedPool } from "../../demo/cognito-emulator.js";
import { parseConfigText } from "../../src/config/load.js";
import { startApp, waitReady } from "../support/app.js";
import { requirePythonModule } from "../support/programs.js";
import { sharedCognitoLocal } from "../support/shared.js";
import { startUpstream } from "../support/upstream.js";

t.setTimeout(120_000);
const run = promisify(execFile);

const ALICE = {
  username: "alice",
  password: "Passw0rd!",
  email: "alice@example.com",
  groups: ["admin", "billing"],
};
const ISSUER = "https://cupbearer.example";

function p256() {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { pem: privateKey.export({ type: "pkcs8", format: "pem" }) as string, privateKey, publicKey };
}

const emulator = await sharedCognitoLocal(t);
const up = await startUpstream();
t.teardown(() => up.close());

t.test("assertions and ALB headers through a running proxy", async (t) => {
  if (!emulator) return t.pass("cognito-local not running", { skip: "see the SKIPPED banner" });
  const pool = await seedPool(emulator.endpoint, { poolName: "assertions", users: [ALICE] });
  const alice = await pool.signIn(ALICE.username, ALICE.password);

  const signing = p256();
  const previous = p256();
  // The second key from a file, in SEC1 form: both forms load, only the first signs.
  const dir = mkdtempSync(join(tmpdir(), "cupbearer-assert-"));
  const previousFile = join(dir, "previous.pem");
  writeFileSync(previousFile, previous.privateKey.export({ type: "sec1", format: "pem" }) as string);
  const signingKid = await calculateJwkThumbprint(await exportJWK(signing.publicKey));
  const previousKid = await calculateJwkThumbprint(await exportJWK(previous.publicKey));

  const yaml = `
issuers:
  - { id: local, issuer: ${pool.issuer}, jwksUri: ${pool.jwksUri}, clientIds: [${pool.clientId}] }
assertions:
  issuer: ${ISSUER}
  keys:
    - privateKey: \${ASSERTION_KEY}
    - privateKey: \${UNSET_ROTATION_KEY:-}
    - privateKeyFile: ${previousFile}
  lifetimeSeconds: 30
forwardAuth: { ingress: nginx, listener: admin, path: /_auth, trustedSources: [127.0.0.1] }
routes:
  - id: app
    match: { pathPrefix: /app }
    upstream: ${up.url}
    auth: { assertion: {}, albHeaders: true }
  - id: custom
    match: { pathPrefix: /custom }
    upstream: ${up.url}
    auth: { mode: optional, assertion: { header: X-Identity-Proof } }
  - id: other
    match: { pathPrefix: /other }
    upstream: ${up.url}
`;
  const env = { ASSERTION_KEY: signing.pem };
  const app = await startApp(yaml, env);
  t.teardown(() => app.stop());
  await waitReady(app.adminUrl);
  const jwksUrl = new URL(`${app.adminUrl}/.well-known/jwks.json`);

  const get = async (t: Test, path: string, token?: string, headers: Record<string, string> = {}) => {
    const before = up.requests.length;
    const res = await fetch(`${app.url}${path}`, {
      headers: token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` },
    });
    await res.arrayBuffer();
    t.equal(res.status, 200, `${path} → 200`);
    t.equal(up.requests.length, before + 1, "the upstream received it");
    const seen = up.requests[up.requests.length - 1];
    if (seen === undefined) throw new Error("nothing recorded");
    return seen;
  };
  const one = (h: string | string[] | undefined): string => {
    if (typeof h !== "string") throw new Error(`expected one header value, got ${JSON.stringify(h)}`);
    return h;
  };

  t.test("the JWKS: every key published, cacheable", async (t) => {
    const res = await fetch(jwksUrl);
    t.equal(res.status, 200);
    t.equal(res.headers.get("cache-control"), "public, max-age=300");
    const jwks = (await res.json()) as { keys: Array<Record<string, unknown>> };
    t.strictSame(
      jwks.keys.map((k) => k.kid),
      [signingKid, previousKid],
      "the signing key first, the previous one still published",
    );
    for (const k of jwks.keys) {
      t.match(k, { kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
      t.notOk("d" in k, "no private part");
    }
  });

  t.test("cupbearer's assertion, verified by jose against the admin JWKS", async (t) => {
    const jwks = createRemoteJWKSet(jwksUrl);
    const seen = await get(t, "/app/x", alice.idToken);
    const assertion = one(seen.headers["x-cupbearer-assertion"]);
    const header = decodeProtectedHeader(assertion);
    t.strictSame(header, { alg: "ES256", kid: signingKid, typ: "JWT" }, "the first key signs");
    const { payload } = await jwtVerify(assertion, jwks, {
      issuer: ISSUER,
      audience: "app",
      algorithms: ["ES256"],
    });
    t.equal(payload.sub, seen.headers["x-auth-request-user"]);
    t.strictSame(payload.groups, ALICE.groups);
    t.equal(payload.email, ALICE.email);
    t.equal(payload.username, ALICE.username);
    t.equal(payload.token_iss, pool.issuer);
    t.equal(payload.token_use, "id");
    const { iat = 0, exp = 0 } = payload;
    t.ok(exp - iat <= 30 && exp - iat > 0, `lifetimeSeconds bounds it (${exp - iat} s)`);

    // The library refuses it for another audience, and once it has expired.
    await t.rejects(
      jwtVerify(assertion, jwks, { issuer: ISSUER, audience: "other" }),
      errors.JWTClaimValidationFailed,
    );
    await t.rejects(
      jwtVerify(assertion, jwks, {
        issuer: ISSUER,
        audience: "app",
        currentDate: new Date((exp + 1) * 1000),
      }),
      errors.JWTExpired,
    );
    await t.rejects(jwtVerify(assertion, jwks, { issuer: "https://elsewhere.example", audience: "app" }));

    // Reused for the same token and route; another route has its own audience.
    const again = await get(t, "/app/y", alice.idToken);
    t.equal(one(again.headers["x-cupbearer-assertion"]), assertion, "cached per route and token");
    const custom = await get(t, "/custom/z", alice.idToken);
    const proof = one(custom.headers["x-identity-proof"]);
    t.notOk("x-cupbearer-assertion" in custom.headers, "the route's own header only");
    const verified = await jwtVerify(proof, jwks, { issuer: ISSUER, audience: "custom" });
    t.equal(verified.payload.sub, payload.sub);
    // No caller, no assertion.
    const anonymous = await get(t, "/custom/z");
    t.notOk("x-identity-proof" in anonymous.headers, "an anonymous caller gets none");
  });

  t.test("ALB's headers, parsed the way ALB documents (PyJWT, PEM by kid)", async (t) => {
    const seen = await get(t, "/app/alb", alice.accessToken);
    const data = one(seen.headers["x-amzn-oidc-data"]);
    t.notMatch(data, /=/, "unpadded base64url in every part");
    t.equal(one(seen.headers["x-amzn-oidc-identity"]), seen.headers["x-auth-request-user"]);
    t.equal(one(seen.headers["x-amzn-oidc-accesstoken"]), alice.accessToken, "the caller's access token");

    const pemRes = await fetch(`${app.adminUrl}/.well-known/alb-keys/${signingKid}`);
    t.equal(pemRes.status, 200);
    t.match(await pemRes.text(), /^-----BEGIN PUBLIC KEY-----\n/);
    const missing = await fetch(`${app.adminUrl}/.well-known/alb-keys/no-such-kid`);
    t.equal(missing.status, 404);
    await missing.arrayBuffer();

    const python = requirePythonModule(t, "python3-jwt", "jwt");
    if (python === undefined) return;
    const script = join(import.meta.dirname, "..", "support", "alb_verify.py");
    const { stdout } = await run(python, [script, data, `${app.adminUrl}/.well-known/alb-keys/`]);
    const { header, payload } = JSON.parse(stdout) as Record<string, Record<string, unknown>>;
    t.match(header, {
      alg: "ES256",
      kid: signingKid,
      signer: ISSUER,
      iss: pool.issuer,
      client: pool.clientId,
    });
    t.equal(header?.exp, payload?.exp, "the same exp in header and payload");
    t.match(payload, {
      sub: seen.headers["x-auth-request-user"],
      username: ALICE.username,
      iss: pool.issuer,
    });

    // A forged signature is refused by the same script.
    const [h, p] = data.split(".");
    const forged = `${h}.${p}.${Buffer.alloc(64, 1).toString("base64url")}`;
    await t.rejects(
      run(python, [script, forged, `${app.adminUrl}/.well-known/alb-keys/`]),
      /InvalidSignatureError/,
    );

    // The README's PyJWT snippet: the assertion against the JWKS, issuer and audience checked.
    const readme = [
      "import jwt, sys",
      "jwks = jwt.PyJWKClient(sys.argv[2])",
      "token = sys.argv[1]",
      "key = jwks.get_signing_key_from_jwt(token).key",
      `print(jwt.decode(token, key, algorithms=["ES256"], issuer="${ISSUER}", audience="app")["sub"])`,
    ].join("\n");
    const assertion = one(seen.headers["x-cupbearer-assertion"]);
    const sub = await run(python, ["-c", readme, assertion, jwksUrl.href]);
    t.equal(sub.stdout.trim(), seen.headers["x-auth-request-user"], "PyJWT verifies the assertion too");

    // With an ID token there is no access token to hand on.
    const withId = await get(t, "/app/alb", alice.idToken);
    t.notOk("x-amzn-oidc-accesstoken" in withId.headers, "no access token header for an ID token");
    t.ok(typeof withId.headers["x-amzn-oidc-data"] === "string");
  });

  t.test("forward-auth answers carry the route's assertion and ALB headers", async (t) => {
    const jwks = createRemoteJWKSet(jwksUrl);
    const ask = async (path: string, token?: string) => {
      const before = up.requests.length;
      const res = await fetch(`${app.adminUrl}/_auth`, {
        headers: {
          "x-original-url": `http://app.example${path}`,
          "x-original-method": "GET",
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
      });
      await res.arrayBuffer();
      t.equal(up.requests.length, before, `${path}: nothing forwarded`);
      return res;
    };
    const ok = await ask("/app/x", alice.idToken);
    t.equal(ok.status, 200);
    const assertion = ok.headers.get("x-cupbearer-assertion") ?? "";
    const { payload } = await jwtVerify(assertion, jwks, { issuer: ISSUER, audience: "app" });
    t.equal(payload.sub, ok.headers.get("x-auth-request-user"), "the caller the identity headers name");
    t.equal(ok.headers.get("x-amzn-oidc-identity"), payload.sub, "ALB's identity header");
    t.ok((ok.headers.get("x-amzn-oidc-data") ?? "").split(".").length === 3, "ALB's data header");
    t.equal(ok.headers.get("x-amzn-oidc-accesstoken"), null, "an ID token is not an access token");
    const withAccess = await ask("/app/x", alice.accessToken);
    t.equal(
      withAccess.headers.get("x-amzn-oidc-accesstoken"),
      alice.accessToken,
      "the caller's access token",
    );
    const anonymous = await ask("/custom/x");
    t.equal(anonymous.status, 200, "optional route, no token");
    t.equal(anonymous.headers.get("x-identity-proof"), null, "no caller, no assertion");
    const refused = await ask("/app/x");
    t.equal(refused.status, 401);
    t.equal(refused.headers.get("x-cupbearer-assertion"), null, "a refusal carries none");
  });

  t.test("spoofed assertion and ALB headers never reach the upstream", async (t) => {
    const spoof = {
      "x-amzn-oidc-data": "forged.forged.forged",
      "x-amzn-oidc-identity": "admin",
      "x-amzn-oidc-accesstoken": "forged",
      "x-amzn-oidc-anything": "forged",
      x_amzn_oidc_data: "forged",
      "x-cupbearer-assertion": "forged",
      "x-identity-proof": "forged",
      X_Cupbearer_Assertion: "forged",
    };
    for (const [path, token] of [
      ["/other/a", alice.idToken],
      ["/custom/c", undefined],
    ] as const) {
      const seen = await get(t, path, token, spoof);
      const leaked = seen.rawHeaders.filter((_, i) => i % 2 === 1).filter((v) => v.startsWith("forged"));
      t.strictSame(leaked, [], `${path}: no client-sent value passed`);
    }
    const seen = await get(t, "/app/d", alice.accessToken, spoof);
    for (const name of [
      "x-amzn-oidc-data",
      "x-amzn-oidc-identity",
      "x-amzn-oidc-accesstoken",
      "x-cupbearer-assertion",
    ]) {
      const value = one(seen.headers[name]);
      t.not(value, "forged", `${name}: cupbearer's own value only`);
    }
    t.notOk("x-amzn-oidc-anything" in seen.headers);
    t.notOk("x_amzn_oidc_data" in seen.headers);
  });

  t.test("reload: a key file that cannot be read refuses it; a dropped key is unpublished", async (t) => {
    const head = "listen: { host: 127.0.0.1, port: 0 }\nadmin: { host: 127.0.0.1, port: 0 }\n";
    const missing = yaml.replace(previousFile, join(dir, "missing.pem"));
    t.equal(await app.app.reload(async () => parseConfigText(head + missing, env)), false, "refused");
    t.match(app.logs.at(-1), { msg: "config reload refused: nothing changed" });
    t.equal(
      ((await (await fetch(jwksUrl)).json()) as { keys: unknown[] }).keys.length,
      2,
      "the keys in use stay",
    );
    const dropped = yaml.replace(`    - privateKeyFile: ${previousFile}\n`, "");
    t.equal(await app.app.reload(async () => parseConfigText(head + dropped, env)), true, "swapped");
    const jwks = (await (await fetch(jwksUrl)).json()) as { keys: Array<{ kid: string }> };
    t.strictSame(
      jwks.keys.map((k) => k.kid),
      [signingKid],
      "only the signing key is left",
    );
    t.equal((await fetch(`${app.adminUrl}/.well-known/alb-keys/${previousKid}`)).status, 404);
  });
});

/**
 * What the forward-auth tests behind an ingress share (a real Caddy for Traefik's header shape, a
 * protocol-level Envoy): cupbearer over the table's routes, a recording app, a test issuer and
 * cognito-local users; and the checks every ingress must pass, judged against the proxy's own
 * answers for the same requests.
 */
import type { Test } from "tap";
import { request } from "undici";
import { type SeededPool, seedPool } from "../../demo/cognito-emulator.js";
import { type RunningApp, startApp, waitReady } from "./app.js";
import { decisionCases, routesYaml } from "./forward-auth-table.js";
import { startIssuer, type TestIssuer } from "./issuer.js";
import { sharedCognitoLocal } from "./shared.js";
import { type RecordedRequest, type RecordingUpstream, startUpstream } from "./upstream.js";

export const IDENTITY = ["X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Groups", "X-Tenant"];
export const identityOf = (h: Record<string, string | string[] | undefined>) =>
  Object.fromEntries(
    IDENTITY.map((n) => n.toLowerCase())
      .filter((n) => h[n] !== undefined)
      .map((n) => [n, h[n]]),
  );

const PASSWORD = "Passw0rd!";
const ANN = {
  username: "ann",
  password: PASSWORD,
  email: "ann@example.com",
  groups: ["admin"],
  attributes: { "custom:tenant": "acme" },
};
const BOB = { username: "bob", password: PASSWORD, groups: ["staff"] };

/** Everything an ingress is put in front of. */
export interface IngressRig {
  readonly issuer: TestIssuer;
  readonly app: RecordingUpstream;
  /** Users ANN and BOB in cognito-local, when it runs. */
  readonly pool: SeededPool | undefined;
  readonly cupbearer: RunningApp;
  /** One request to `base` (the proxy or the ingress), with what the app saw of it. */
  send(
    base: string,
    c: { method: string; host: string; target: string },
    headers: Record<string, string>,
  ): Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: string;
    seen: RecordedRequest[];
  }>;
}

/** cupbearer with `forwardAuth.ingress` set, over the table's routes, and what it judges. */
export async function startIngressRig(t: Test, ingress: "traefik" | "envoy"): Promise<IngressRig> {
  const [issuer, app, emulator] = await Promise.all([startIssuer(), startUpstream(), sharedCognitoLocal(t)]);
  t.teardown(() => Promise.all([issuer.close(), app.close()]));
  const pool: SeededPool | undefined =
    emulator === undefined
      ? undefined
      : await seedPool(emulator.endpoint, { poolName: `forward-auth-${ingress}`, users: [ANN, BOB] });
  const poolIssuer =
    pool === undefined
      ? ""
      : `  - { id: pool, issuer: ${pool.issuer}, jwksUri: ${pool.jwksUri}, clientIds: [${pool.clientId}] }`;
  const cupbearer = await startApp(`
issuers:
  - { id: local, issuer: ${issuer.issuer}, jwksUri: ${issuer.jwksUri}, clientIds: [test-client] }
${poolIssuer}
forwardAuth: { ingress: ${ingress}, trustedSources: [127.0.0.1/32] }
routes:
${routesYaml(app.url, pool === undefined ? undefined : ["local", "pool"])}
`);
  t.teardown(() => cupbearer.stop());
  await waitReady(cupbearer.adminUrl);
  const send: IngressRig["send"] = async (base, c, headers) => {
    const before = app.requests.length;
    const res = await request(`${base}${c.target}`, {
      method: c.method as "GET",
      headers: { host: c.host, ...headers },
    });
    const body = await res.body.text();
    const seen = app.requests.slice(before);
    return { status: res.statusCode, headers: res.headers, body, seen };
  };
  return { issuer, app, pool, cupbearer, send };
}

/**
 * The checks every ingress passes, `name` in front at `ingressUrl`: the table's decisions and
 * identity headers as the proxy gives them, a client's own identity headers dropped, and real
 * users of cognito-local through it.
 */
export function testThroughIngress(t: Test, rig: IngressRig, name: string, ingressUrl: string): void {
  const { issuer, pool, cupbearer, send } = rig;
  t.test(`${name} in front: the proxy's decisions, the proxy's identity headers`, async (t) => {
    for (const c of decisionCases(issuer)) {
      const token = c.token?.();
      const auth: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
      const direct = await send(cupbearer.url, c, auth);
      t.equal(direct.status, c.status, `${c.name}: the proxy says ${c.status}`);
      const via = await send(ingressUrl, c, auth);
      t.equal(via.status, c.status, `${c.name}: ${c.status} through ${name}`);
      if (c.status === 200) {
        t.equal(via.seen.length, 1, "the app got it");
        t.same(
          identityOf(via.seen[0]?.headers ?? {}),
          identityOf(direct.seen[0]?.headers ?? {}),
          "the same identity headers",
        );
      } else {
        // The ingress answers the client with cupbearer's answer (none of the table's is a 5xx).
        t.same(via.seen, [], "the app saw nothing");
        t.equal(JSON.parse(via.body).error, c.error, `${c.name}: ${c.error}`);
        t.equal(
          via.headers["www-authenticate"],
          direct.headers["www-authenticate"],
          "the challenge reaches the client",
        );
      }
    }
  });

  t.test("identity headers a client sends never reach the app", async (t) => {
    const token = issuer.token({ "cognito:groups": ["admin"] }); // no email, no tenant
    const spoofed = {
      "x-auth-request-user": "root",
      "x-auth-request-email": "root@example.com",
      "x-tenant": "globex",
    };
    const via = await send(
      ingressUrl,
      { method: "GET", host: "api.example.com", target: "/orders/1" },
      { authorization: `Bearer ${token}`, ...spoofed },
    );
    t.equal(via.status, 200);
    t.same(identityOf(via.seen[0]?.headers ?? {}), {
      "x-auth-request-user": "user-1",
      "x-auth-request-groups": "admin",
    });
    const anonymous = await send(
      ingressUrl,
      { method: "GET", host: "api.example.com", target: "/public/x" },
      spoofed,
    );
    t.equal(anonymous.status, 200);
    t.same(identityOf(anonymous.seen[0]?.headers ?? {}), {}, "an anonymous caller has none");
  });

  t.test(`cognito-local users through ${name}`, async (t) => {
    if (pool === undefined) return t.pass("cognito-local not running", { skip: "see the SKIPPED banner" });
    const [ann, bob] = await Promise.all([
      pool.signIn(ANN.username, ANN.password),
      pool.signIn(BOB.username, BOB.password),
    ]);
    const orders = { method: "GET", host: "api.example.com", target: "/orders/7?x=1" };
    const allowed = await send(ingressUrl, orders, { authorization: `Bearer ${ann.idToken}` });
    t.equal(allowed.status, 200, "an admin's ID token");
    t.equal(allowed.seen[0]?.url, "/orders/7?x=1", "the app gets the request as sent");
    const sub = JSON.parse(Buffer.from(ann.idToken.split(".")[1] ?? "", "base64url").toString()).sub;
    t.same(identityOf(allowed.seen[0]?.headers ?? {}), {
      "x-auth-request-user": sub,
      "x-auth-request-email": "ann@example.com",
      "x-auth-request-groups": "admin",
      "x-tenant": "acme",
    });
    const staff = await send(ingressUrl, orders, { authorization: `Bearer ${bob.accessToken}` });
    t.equal(staff.status, 403, "staff: insufficient_scope");
    t.match(staff.headers["www-authenticate"], /error="insufficient_scope"/);
    t.same(staff.seen, []);
    const me = await send(
      ingressUrl,
      { method: "GET", host: "api.example.com", target: "/me" },
      { authorization: `Bearer ${bob.accessToken}` },
    );
    t.equal(me.status, 200, "an access token where one is required");
    const idOnMe = await send(
      ingressUrl,
      { method: "GET", host: "api.example.com", target: "/me" },
      { authorization: `Bearer ${bob.idToken}` },
    );
    t.equal(idOnMe.status, 403, "an ID token where access is required");
    const none = await send(ingressUrl, orders, {});
    t.equal(none.status, 401);
    t.equal(none.headers["www-authenticate"], 'Bearer realm="cupbearer"');
  });
}

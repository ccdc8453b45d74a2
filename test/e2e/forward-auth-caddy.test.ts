/**
 * Forward-auth behind a real ingress in Traefik's header shape: Caddy (Debian's package; Traefik
 * itself is not packaged) with `forward_auth` to cupbearer (`ingress: traefik`). Caddy's
 * forward_auth sends what Traefik's ForwardAuth sends: the request's headers, with
 * `X-Forwarded-Method` and `X-Forwarded-Uri` set, and `X-Forwarded-Host` written by its
 * reverse proxy; on a 2xx it copies `copy_headers` onto the request, otherwise it answers the
 * client with cupbearer's answer. The app gets the requests and identity headers the proxy would
 * have given it, for the same table of requests; refusals never reach it. Real users of
 * cognito-local get through with their own identity.
 */
import t from "tap";
import { request } from "undici";
import { type SeededPool, seedPool } from "../../demo/cognito-emulator.js";
import { startApp, waitReady } from "../support/app.js";
import { startCaddy } from "../support/caddy.js";
import { decisionCases, routesYaml } from "../support/forward-auth-table.js";
import { startIssuer } from "../support/issuer.js";
import { sharedCognitoLocal } from "../support/shared.js";
import { startUpstream } from "../support/upstream.js";

t.setTimeout(180_000);

const IDENTITY = ["X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Groups", "X-Tenant"];
const identityOf = (h: Record<string, string | string[] | undefined>) =>
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

const [issuer, app, emulator] = await Promise.all([startIssuer(), startUpstream(), sharedCognitoLocal(t)]);
t.teardown(() => Promise.all([issuer.close(), app.close()]));
const pool: SeededPool | undefined =
  emulator === undefined
    ? undefined
    : await seedPool(emulator.endpoint, { poolName: "forward-auth-caddy", users: [ANN, BOB] });
const poolIssuer =
  pool === undefined
    ? ""
    : `  - { id: pool, issuer: ${pool.issuer}, jwksUri: ${pool.jwksUri}, clientIds: [${pool.clientId}] }`;
const cupbearer = await startApp(`
issuers:
  - { id: local, issuer: ${issuer.issuer}, jwksUri: ${issuer.jwksUri}, clientIds: [test-client] }
${poolIssuer}
forwardAuth: { ingress: traefik, trustedSources: [127.0.0.1/32] }
routes:
${routesYaml(app.url, pool === undefined ? undefined : ["local", "pool"])}
`);
t.teardown(() => cupbearer.stop());
await waitReady(cupbearer.adminUrl);

// As deploy/forward-auth/caddy/Caddyfile: in a route block, so the order is as written. The
// client's own identity headers are deleted first: Caddy leaves one in place when the answer does
// not carry it (an anonymous caller, a user without an email) before 2.10, and Caddy 2.6
// (Debian 12's) copies such a header as its unresolved placeholder, which the matchers after
// forward_auth delete.
const caddy = await startCaddy(
  t,
  `	route {
${IDENTITY.map((h) => `		request_header -${h}`).join("\n")}
		forward_auth ${cupbearer.url.replace("http://", "")} {
			uri /_cupbearer/auth
			copy_headers ${IDENTITY.join(" ")}
		}
${IDENTITY.map(
  (h, i) => `		@unset${i} header_regexp ${h} ^\\{http\\.reverse_proxy\\.header\\.
		request_header @unset${i} -${h}`,
).join("\n")}
		reverse_proxy ${app.url.replace("http://", "")}
	}`,
);

if (caddy !== undefined) {
  const ingress = caddy;
  async function send(
    base: string,
    c: { method: string; host: string; target: string },
    headers: Record<string, string>,
  ) {
    const before = app.requests.length;
    const res = await request(`${base}${c.target}`, {
      method: c.method as "GET",
      headers: { host: c.host, ...headers },
    });
    const body = await res.body.text();
    const seen = app.requests.slice(before);
    return { status: res.statusCode, headers: res.headers, body, seen };
  }

  t.test("Caddy in front: the proxy's decisions, the proxy's identity headers", async (t) => {
    for (const c of decisionCases(issuer)) {
      const token = c.token?.();
      const auth: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
      const direct = await send(cupbearer.url, c, auth);
      t.equal(direct.status, c.status, `${c.name}: the proxy says ${c.status}`);
      const via = await send(ingress.url, c, auth);
      t.equal(via.status, c.status, `${c.name}: ${c.status} through Caddy`);
      if (c.status === 200) {
        t.equal(via.seen.length, 1, "the app got it");
        t.same(
          identityOf(via.seen[0]?.headers ?? {}),
          identityOf(direct.seen[0]?.headers ?? {}),
          "the same identity headers",
        );
      } else {
        // Caddy answers the client with cupbearer's answer, whatever its status.
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
      ingress.url,
      { method: "GET", host: "api.example.com", target: "/orders/1" },
      { authorization: `Bearer ${token}`, ...spoofed },
    );
    t.equal(via.status, 200);
    t.same(identityOf(via.seen[0]?.headers ?? {}), {
      "x-auth-request-user": "user-1",
      "x-auth-request-groups": "admin",
    });
    const anonymous = await send(
      ingress.url,
      { method: "GET", host: "api.example.com", target: "/public/x" },
      spoofed,
    );
    t.equal(anonymous.status, 200);
    t.same(identityOf(anonymous.seen[0]?.headers ?? {}), {}, "an anonymous caller has none");
  });

  t.test("a client cannot describe another request: Caddy writes X-Forwarded-* itself", async (t) => {
    const via = await send(
      ingress.url,
      { method: "GET", host: "api.example.com", target: "/orders/1" },
      {
        "x-forwarded-uri": "/public/x",
        "x-forwarded-method": "GET",
        "x-forwarded-host": "admin.example.com",
      },
    );
    t.equal(via.status, 401);
    t.same(via.seen, []);
    t.match(
      cupbearer.logs.findLast((l) => l.forwardAuth === true),
      { path: "/orders/1", reason: "missing" },
    );
  });

  t.test("cognito-local users through Caddy", async (t) => {
    if (pool === undefined) return t.pass("cognito-local not running", { skip: "see the SKIPPED banner" });
    const [ann, bob] = await Promise.all([
      pool.signIn(ANN.username, ANN.password),
      pool.signIn(BOB.username, BOB.password),
    ]);
    const orders = { method: "GET", host: "api.example.com", target: "/orders/7?x=1" };
    const allowed = await send(ingress.url, orders, { authorization: `Bearer ${ann.idToken}` });
    t.equal(allowed.status, 200, "an admin's ID token");
    t.equal(allowed.seen[0]?.url, "/orders/7?x=1", "the app gets the request as sent");
    const sub = JSON.parse(Buffer.from(ann.idToken.split(".")[1] ?? "", "base64url").toString()).sub;
    t.same(identityOf(allowed.seen[0]?.headers ?? {}), {
      "x-auth-request-user": sub,
      "x-auth-request-email": "ann@example.com",
      "x-auth-request-groups": "admin",
      "x-tenant": "acme",
    });
    const staff = await send(ingress.url, orders, { authorization: `Bearer ${bob.accessToken}` });
    t.equal(staff.status, 403, "staff: insufficient_scope");
    t.match(staff.headers["www-authenticate"], /error="insufficient_scope"/);
    t.same(staff.seen, []);
    const me = await send(
      ingress.url,
      { method: "GET", host: "api.example.com", target: "/me" },
      { authorization: `Bearer ${bob.accessToken}` },
    );
    t.equal(me.status, 200, "an access token where one is required");
    const idOnMe = await send(
      ingress.url,
      { method: "GET", host: "api.example.com", target: "/me" },
      { authorization: `Bearer ${bob.idToken}` },
    );
    t.equal(idOnMe.status, 403, "an ID token where access is required");
    const none = await send(ingress.url, orders, {});
    t.equal(none.status, 401);
    t.equal(none.headers["www-authenticate"], 'Bearer realm="cupbearer"');
  });
}

/**
 * Forward-auth behind a real ingress: nginx (Debian's package) with `auth_request` to cupbearer's
 * endpoint, set up the way ingress-nginx renders its `auth-url` and `auth-response-headers`
 * annotations, in front of an app. The app gets exactly the requests, and the identity headers,
 * the proxy would have given it, for the same table of requests; refusals never reach it.
 */
import t from "tap";
import { request } from "undici";
import { startApp, waitReady } from "../support/app.js";
import { decisionCases, routesYaml } from "../support/forward-auth-table.js";
import { startIssuer } from "../support/issuer.js";
import { startNginx } from "../support/nginx.js";
import { startUpstream } from "../support/upstream.js";

t.setTimeout(120_000);

const IDENTITY = ["x-auth-request-user", "x-auth-request-email", "x-auth-request-groups", "x-tenant"];
const identityOf = (h: Record<string, string | string[] | undefined>) =>
  Object.fromEntries(IDENTITY.filter((n) => h[n] !== undefined).map((n) => [n, h[n]]));

const issuer = await startIssuer();
const app = await startUpstream(); // the application behind the ingress
t.teardown(() => Promise.all([issuer.close(), app.close()]));
const cupbearer = await startApp(`
issuers:
  - { id: local, issuer: ${issuer.issuer}, jwksUri: ${issuer.jwksUri}, clientIds: [test-client] }
forwardAuth: { ingress: nginx, trustedSources: [127.0.0.1/32] }
routes:
${routesYaml(app.url)}
`);
t.teardown(() => cupbearer.stop());
await waitReady(cupbearer.adminUrl);

// What ingress-nginx renders for nginx.ingress.kubernetes.io/auth-url and auth-response-headers.
const authSet = IDENTITY.map(
  (h, i) => `      auth_request_set $auth_${i} $upstream_http_${h.replaceAll("-", "_")};`,
).join("\n");
const headerSet = IDENTITY.map((h, i) => `      proxy_set_header ${h} $auth_${i};`).join("\n");
const nginx = await startNginx(
  t,
  `    location = /_external-auth {
      internal;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Sent-From "nginx-ingress-controller";
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Auth-Request-Redirect $request_uri;
      proxy_http_version 1.1;
      proxy_pass ${cupbearer.url}/_cupbearer/auth;
    }
    location / {
      auth_request /_external-auth;
${authSet}
${headerSet}
      proxy_pass ${app.url};
    }`,
);

if (nginx !== undefined) {
  const ingress = nginx;
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
    await res.body.text();
    const seen = app.requests.slice(before);
    return { status: res.statusCode, headers: res.headers, seen };
  }

  t.test("nginx in front: the proxy's decisions, the proxy's identity headers", async (t) => {
    for (const c of decisionCases(issuer)) {
      const token = c.token?.();
      const auth: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
      const direct = await send(cupbearer.url, c, auth);
      t.equal(direct.status, c.status, `${c.name}: the proxy says ${c.status}`);
      const via = await send(ingress.url, c, auth);
      if (c.status === 200) {
        t.equal(via.status, 200, `${c.name}: 200 through nginx`);
        t.equal(via.seen.length, 1, "the app got it");
        t.same(
          identityOf(via.seen[0]?.headers ?? {}),
          identityOf(direct.seen[0]?.headers ?? {}),
          "the same identity headers",
        );
      } else if (c.status === 401 || c.status === 403) {
        t.equal(via.status, c.status, `${c.name}: ${c.status} through nginx`);
        t.same(via.seen, [], "the app saw nothing");
        if (c.status === 401)
          t.equal(
            via.headers["www-authenticate"],
            direct.headers["www-authenticate"],
            "nginx passes the challenge",
          );
      } else {
        // auth_request knows only 2xx, 401 and 403: any other answer is an error, so nginx fails closed.
        t.equal(via.status, 500, `${c.name}: cupbearer's ${c.status} is nginx's 500`);
        t.same(via.seen, [], "the app saw nothing");
      }
    }
  });

  t.test("identity headers a client sends never reach the app", async (t) => {
    const token = issuer.token({ "cognito:groups": ["admin"] }); // no email, no tenant
    const via = await send(
      ingress.url,
      { method: "GET", host: "api.example.com", target: "/orders/1" },
      {
        authorization: `Bearer ${token}`,
        "x-auth-request-user": "root",
        "x-auth-request-email": "root@example.com",
        "x-tenant": "globex",
      },
    );
    t.equal(via.status, 200);
    t.same(identityOf(via.seen[0]?.headers ?? {}), {
      "x-auth-request-user": "user-1",
      "x-auth-request-groups": "admin",
    });
  });

  t.test("a client cannot describe another request: nginx writes X-Original-URL itself", async (t) => {
    const via = await send(
      ingress.url,
      { method: "GET", host: "api.example.com", target: "/orders/1" },
      {
        "x-original-url": "https://api.example.com/public/x",
        "x-original-method": "GET",
      },
    );
    t.equal(via.status, 401);
    t.same(via.seen, []);
    t.match(
      cupbearer.logs.findLast((l) => l.forwardAuth === true),
      { path: "/orders/1", reason: "missing" },
    );
  });
}

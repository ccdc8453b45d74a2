import t from "tap";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { startIssuer, type TestIssuer } from "../support/issuer.js";
import { rawRequest } from "../support/raw.js";
import { expressStack, type Stack, servletStack, wsgiStack } from "../support/stacks.js";

/**
 * Requests an attacker would try, each against upstreams that read paths, methods and headers as
 * Express 4, a servlet container and a WSGI server do. The property asserted is not a status but
 * what the upstream did: a handler the route rules protect never ran for a caller they refuse,
 * and the identity every upstream read is the one cupbearer verified.
 */

const PROTECTED = new Set(["admin", "report", "items-delete"]);

let issuer: TestIssuer;
const stacks: Array<{ stack: Stack; app: RunningApp }> = [];

const config = (upstream: string) => `
issuers:
  - { id: local, issuer: "${issuer.issuer}", jwksUri: "${issuer.jwksUri}", clientIds: [test-client] }
routes:
  - id: tenant
    match: { hosts: ["*.tenants.test"], pathPrefix: /tenant }
    upstream: ${upstream}
    auth: { mode: public }
  - id: admin
    match: { pathPrefix: /admin }
    upstream: ${upstream}
    auth: { groups: [admin] }
  - id: report
    match: { path: /reports/daily, methods: [GET] }
    upstream: ${upstream}
    auth: { groups: [admin] }
  - id: items-delete
    match: { pathPrefix: /items, methods: [DELETE] }
    upstream: ${upstream}
    auth: { groups: [admin] }
  - id: public
    match: { pathPrefix: /public }
    upstream: ${upstream}
    auth: { mode: public }
  - id: rest
    upstream: ${upstream}
`;

t.before(async () => {
  issuer = await startIssuer();
  for (const start of [expressStack, servletStack, wsgiStack]) {
    const stack = await start();
    const app = await startApp(config(stack.url));
    stacks.push({ stack, app });
  }
  await Promise.all(stacks.map(({ app }) => waitReady(app.adminUrl)));
});
t.teardown(async () => {
  for (const { stack, app } of stacks) {
    await app.stop();
    await stack.close();
  }
  await issuer.close();
});

interface Attack {
  readonly name: string;
  readonly method?: string;
  readonly target: string;
  /** Extra header lines; `{token}` is replaced by the staff (not admin) caller's token. */
  readonly headers?: string;
  /** The Host line; default one valid Host. */
  readonly host?: string;
  readonly status: number;
}

const staff = () => issuer.token({ "cognito:groups": ["staff"] });
const admin = () => issuer.token({ "cognito:groups": ["admin"] });

const ATTACKS: Attack[] = [
  // Letter case: Express routes /ADMIN to its /admin handler, a servlet to its catch-all; the
  // admin rules, the stricter, cover both.
  { name: "capitals", target: "/ADMIN/users", status: 403 },
  { name: "mixed case", target: "/Admin", status: 403 },
  { name: "case in the last segment of an exact path", target: "/reports/DAILY", status: 403 },
  // Path parameters: a servlet container maps /admin;x/users to /admin/users (admin rules).
  { name: "path parameter", target: "/admin;x/users", status: 403 },
  { name: "parameter on the last segment", target: "/admin;jsessionid=1", status: 403 },
  { name: "Tomcat's /..;/", target: "/public/..;/admin/users", status: 400 },
  {
    name: "dot segment with a parameter (resolved first: /public/admin)",
    target: "/public/.;x/../admin",
    status: 200,
  },
  { name: "parameter then .. (resolved first)", target: "/public;x/../admin", status: 403 },
  // Segments that only some servers trim or decode.
  { name: "trailing dot", target: "/admin./users", status: 400 },
  { name: "encoded space", target: "/admin%20/users", status: 400 },
  { name: "overlong UTF-8 slash", target: "/admin%C0%AFusers", status: 400 },
  { name: "fullwidth solidus", target: "/public%EF%BC%8F..%EF%BC%8Fadmin", status: 400 },
  { name: "encoded unreserved letters", target: "/%61dmin/users", status: 403 },
  { name: "encoded slash", target: "/public%2F..%2Fadmin", status: 400 },
  // Non-strict routers and HEAD.
  { name: "trailing slash on an exact path", target: "/reports/daily/", status: 403 },
  { name: "HEAD runs the GET handler", method: "HEAD", target: "/reports/daily", status: 403 },
  // Method override: Express and WSGI middleware turn this POST into a DELETE.
  {
    name: "X-HTTP-Method-Override",
    method: "POST",
    target: "/items/1",
    headers: "X-HTTP-Method-Override: DELETE\nContent-Length: 0\n",
    status: 200,
  },
  {
    name: "X_HTTP_Method_Override (a WSGI spelling)",
    method: "POST",
    target: "/items/1",
    headers: "X_HTTP_Method_Override: DELETE\nContent-Length: 0\n",
    status: 200,
  },
  { name: "X-Original-URL", target: "/public/x", headers: "X-Original-URL: /admin/users\n", status: 200 },
  // Host: a *.tenants.test route must never match these, nor the upstream see them.
  { name: "Host with a path", target: "/tenant/x", host: "Host: a.com/.tenants.test", status: 400 },
  { name: "Host with userinfo", target: "/tenant/x", host: "Host: x@y.tenants.test", status: 400 },
  { name: "Host with a query", target: "/tenant/x", host: "Host: a.com?.tenants.test", status: 400 },
  { name: "two Hosts", target: "/tenant/x", host: "Host: a.tenants.test\nHost: evil.test", status: 400 },
  { name: "no Host", target: "/admin", host: "", status: 400 },
  // Methods.
  { name: "TRACE", method: "TRACE", target: "/public/x", status: 405 },
];

for (const attack of ATTACKS) {
  t.test(`attack: ${attack.name}`, async (t) => {
    for (const { stack, app } of stacks) {
      const before = stack.runs.length;
      const host = attack.host ?? "Host: a.test";
      const res = await rawRequest(
        app.url,
        `${attack.method ?? "GET"} ${attack.target} HTTP/1.1\n${host}${host === "" ? "" : "\n"}Authorization: Bearer ${staff()}\n${attack.headers ?? ""}Connection: close\n`,
      );
      t.equal(res.status, attack.status, `${stack.name}: status`);
      const ran = stack.runs.slice(before);
      t.notOk(
        ran.some((r) => PROTECTED.has(r.handler)),
        `${stack.name}: no protected handler ran (${ran.map((r) => r.handler).join(",") || "none"})`,
      );
      if (attack.status >= 400) t.equal(ran.length, 0, `${stack.name}: the upstream never saw it`);
    }
  });
}

t.test("control: the protected handlers do run for a caller the rules admit", async (t) => {
  for (const { stack, app } of stacks) {
    const before = stack.runs.length;
    for (const [method, target] of [
      ["GET", "/admin/users"],
      ["HEAD", "/reports/daily/"],
      ["DELETE", "/items/1"],
    ] as const) {
      const res = await rawRequest(
        app.url,
        `${method} ${target} HTTP/1.1\nHost: a.test\nAuthorization: Bearer ${admin()}\nConnection: close\n`,
      );
      t.equal(res.status, 200, `${stack.name}: ${method} ${target}`);
    }
    const ran = stack.runs.slice(before);
    t.ok(
      ran.some((r) => r.handler === "admin" && r.user === "user-1"),
      `${stack.name}: admin ran for user-1`,
    );
  }
  const express = stacks[0]?.stack;
  t.ok(
    express?.runs.some((r) => r.handler === "report"),
    "express: HEAD ran the report handler",
  );
  t.ok(
    express?.runs.some((r) => r.handler === "items-delete"),
    "express: DELETE ran",
  );
});

t.test("identity headers in any spelling: the upstream reads only the verified caller", async (t) => {
  const spoofs = [
    "X-Auth-Request-User: root\n",
    "X_Auth_Request_User: root\n",
    "x-auth_request-user: root\n",
    "X_AUTH_REQUEST_USER: root\nX-Auth-Request-User: root\n",
  ];
  for (const { stack, app } of stacks) {
    for (const spoof of spoofs) {
      const before = stack.runs.length;
      const res = await rawRequest(
        app.url,
        `GET /whoami HTTP/1.1\nHost: a.test\nAuthorization: Bearer ${staff()}\n${spoof}Connection: close\n`,
      );
      t.equal(res.status, 200);
      t.equal(stack.runs[before]?.user, "user-1", `${stack.name}: ${JSON.stringify(spoof)}`);
    }
    const before = stack.runs.length;
    await rawRequest(
      app.url,
      "GET /public/x HTTP/1.1\nHost: a.test\nX_Auth_Request_User: root\nConnection: close\n",
    );
    t.equal(stack.runs[before]?.user, undefined, `${stack.name}: a public route carries no identity at all`);
  }
  const wsgi = stacks[2];
  if (wsgi === undefined) throw new Error("three stacks");
  const res = await rawRequest(
    wsgi.app.url,
    `GET /whoami HTTP/1.1\nHost: a.test\nAuthorization: Bearer ${staff()}\nX_Forwarded_For: 10.9.9.9\nConnection: close\n`,
  );
  t.equal(JSON.parse(res.body).forwardedFor, "127.0.0.1", "WSGI reads X-Forwarded-For as cupbearer wrote it");
});

t.test("refusals are logged with the caller's sub, issuer and failing rule, never the token", async (t) => {
  const entry = stacks[0];
  if (entry === undefined) throw new Error("three stacks");
  const token = staff();
  const res = await rawRequest(
    entry.app.url,
    `GET /admin/x HTTP/1.1\nHost: a.test\nAuthorization: Bearer ${token}\nConnection: close\n`,
  );
  t.equal(res.status, 403);
  const line = entry.app.logs.find((l) => l.msg === "request refused" && l.path === "/admin/x");
  t.match(line, { sub: "user-1", issuer: "local", reason: "group", rule: "group", status: 403 });
  t.notOk(entry.app.logText().includes(token), "no token in the log");
});

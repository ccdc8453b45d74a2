/**
 * The forward-auth endpoint's edge on its own, with a real Runtime (routes, verifier) and a real
 * HTTP server: answers while draining, graceful-stop accounting, the access log switched off,
 * the listener check, and the trusted-source check of dual-stack addresses.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import t from "tap";
import { Agent, request } from "undici";
import { IdentityPools } from "../../src/aws/pools.js";
import { parseConfigText } from "../../src/config/load.js";
import { createLogger } from "../../src/log.js";
import { createMetrics } from "../../src/metrics.js";
import { compileForwardAuth, createForwardAuth, sourceAllowed } from "../../src/proxy/forward-auth.js";
import { HeldBodyBudget } from "../../src/proxy/held-body.js";
import { Runtime } from "../../src/runtime.js";
import { startIssuer } from "../support/issuer.js";

const issuer = await startIssuer();
const agent = new Agent();
t.teardown(async () => {
  await issuer.close();
  await agent.close();
});

const config = parseConfigText(
  `
issuers:
  - { id: local, issuer: ${issuer.issuer}, jwksUri: ${issuer.jwksUri}, clientIds: [test-client] }
forwardAuth: { ingress: traefik, trustedSources: [127.0.0.0/8] }
routes:
  - { id: api, match: { pathPrefix: /api }, upstream: "http://127.0.0.1:9" }
`,
  {},
);
const metrics = createMetrics();
let logged = "";
const log = createLogger(
  "warn",
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logged += chunk.toString();
      cb();
    },
  }),
);
const runtime = new Runtime(config, {
  jwksDispatcher: agent,
  metrics,
  log,
  identityPools: new IdentityPools(metrics),
  heldBodies: new HeldBodyBudget(config.limits.maxHeldBodyBytes),
});
t.teardown(() => runtime.stop());
await runtime.loadKeysOnce();

let active = 0;
const deps = {
  state: () => runtime,
  log,
  draining: () => true,
  requests: { requestStarted: () => active++, requestEnded: () => active-- },
};
const onMain = createForwardAuth(deps, "main");
const onAdmin = createForwardAuth(deps, "admin");
const server: Server = createServer((req, res) => {
  if (onAdmin(req, res)) return;
  if (!onMain(req, res)) res.writeHead(418).end();
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
t.teardown(() => new Promise<void>((r) => server.close(() => r())));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const ask = (token?: string) =>
  request(`${base}/_cupbearer/auth`, {
    dispatcher: agent,
    headers: {
      "x-forwarded-method": "GET",
      "x-forwarded-host": "a.example",
      "x-forwarded-uri": "/api/x",
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
  });

t.test("while draining, every answer asks the ingress to close its connection", async (t) => {
  const ok = await ask(issuer.token());
  t.equal(ok.statusCode, 200);
  t.equal(ok.headers.connection, "close");
  t.equal(ok.headers["x-auth-request-user"], "user-1");
  await ok.body.text();
  const refused = await ask();
  t.equal(refused.statusCode, 401);
  t.equal(refused.headers.connection, "close");
  await refused.body.text();
  t.equal(active, 0, "every request that started has ended");
  t.equal(logged, "", "no access line below info");
});

t.test("other paths and the other listener are left to the caller", async (t) => {
  const other = await request(`${base}/api/x`, { dispatcher: agent });
  t.equal(other.statusCode, 418);
  await other.body.text();
});

t.test("trusted sources", async (t) => {
  const endpoint = compileForwardAuth(config.forwardAuth);
  if (endpoint === undefined) throw new Error("compiled");
  t.equal(compileForwardAuth(undefined), undefined);
  t.ok(sourceAllowed(endpoint.sources, "127.0.0.1"));
  t.ok(sourceAllowed(endpoint.sources, "::ffff:127.0.0.1"), "an IPv4 client of a dual-stack socket");
  t.notOk(sourceAllowed(endpoint.sources, "10.0.0.1"));
  t.notOk(sourceAllowed(endpoint.sources, "::1"), "IPv6 loopback is another address");
  t.notOk(sourceAllowed(endpoint.sources, undefined), "a socket already gone");
  t.throws(
    () =>
      compileForwardAuth({
        ...(config.forwardAuth as NonNullable<typeof config.forwardAuth>),
        trustedSources: ["x"],
      }),
    /was not checked/,
  );
});

import { type AddressInfo, connect, type Socket } from "node:net";
import { Gauge, Registry } from "prom-client";
import t, { type Test } from "tap";
import { ADMIN_LIMITS, createAdminServer } from "../../src/admin/server.js";

/** The admin listener on a free port of 127.0.0.1, with a readiness switch; closed at teardown. */
async function admin(t: Test, registry = new Registry()) {
  const state = { ready: false };
  const server = createAdminServer({ registry, ready: () => state.ready });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { state, url };
}

const answer = async (url: string, init: RequestInit = {}) => {
  const res = await fetch(url, init);
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
};

t.test("/healthz always, /readyz as the readiness says, any query string ignored", async (t) => {
  const { state, url } = await admin(t);
  t.same(await answer(`${url}/healthz`), {
    status: 200,
    type: "application/json",
    body: '{"status":"ok"}',
  });
  t.same(await answer(`${url}/readyz?verbose=1`), {
    status: 503,
    type: "application/json",
    body: '{"status":"not ready"}',
  });
  state.ready = true;
  t.same(await answer(`${url}/readyz`), {
    status: 200,
    type: "application/json",
    body: '{"status":"ready"}',
  });
  const head = await fetch(`${url}/readyz`, { method: "HEAD" });
  t.equal(head.status, 200, "HEAD is answered like GET");
  t.equal(head.headers.get("cache-control"), "no-store", "probes never see a cached answer");
});

t.test("/metrics: the registry's text; a registry that fails is a 500, not a crash", async (t) => {
  const registry = new Registry();
  new Gauge({ name: "cupbearer_test_value", help: "a value", registers: [registry] }).set(7);
  const { url } = await admin(t, registry);
  const ok = await answer(`${url}/metrics`);
  t.equal(ok.status, 200);
  t.equal(ok.type, registry.contentType);
  t.match(ok.body, /^cupbearer_test_value 7$/m);

  const broken = new Registry();
  new Gauge({
    name: "cupbearer_test_broken",
    help: "its collect fails",
    registers: [broken],
    collect() {
      throw new Error("collect failed");
    },
  });
  const failing = await admin(t, broken);
  t.same(await answer(`${failing.url}/metrics`), {
    status: 500,
    type: "application/json",
    body: '{"error":"metrics_unavailable"}',
  });
  t.equal((await answer(`${failing.url}/healthz`)).status, 200, "and the listener still answers");
});

t.test("other methods are 405, other paths 404", async (t) => {
  const { url } = await admin(t);
  t.same(await answer(`${url}/healthz`, { method: "POST" }), {
    status: 405,
    type: "application/json",
    body: '{"error":"method_not_allowed"}',
  });
  t.same(await answer(`${url}/admin`), {
    status: 404,
    type: "application/json",
    body: '{"error":"not_found"}',
  });
});

t.test("the admin listener has its own timeouts and a small connection cap", async (t) => {
  const registry = new Registry();
  const server = createAdminServer({ registry, ready: () => true });
  t.equal(server.headersTimeout, ADMIN_LIMITS.headersTimeoutMs);
  t.equal(server.requestTimeout, ADMIN_LIMITS.requestTimeoutMs);
  t.equal(server.keepAliveTimeout, ADMIN_LIMITS.keepAliveTimeoutMs);
  t.equal(server.timeout, ADMIN_LIMITS.idleTimeoutMs);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const sockets: Socket[] = [];
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const open = () =>
    new Promise<Socket>((resolve, reject) => {
      const s = connect(port, "127.0.0.1", () => resolve(s)).on("error", reject);
      sockets.push(s);
    });
  for (let i = 0; i < ADMIN_LIMITS.maxConnections; i++) await open();
  // Node has counted every connection once it answers on one of them.
  const last = sockets[sockets.length - 1] as Socket;
  const first = await new Promise<string>((resolve) => {
    last.once("data", (d: Buffer) => resolve(d.toString()));
    last.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  });
  t.match(first, /^HTTP\/1\.1 200 /, "the connections within the cap are served");
  const extra = await open();
  const outcome = await new Promise<string>((resolve) => {
    extra.once("data", () => resolve("answered"));
    extra.once("close", () => resolve("closed"));
    extra.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  });
  t.equal(outcome, "closed", "one more is closed at once");
});

t.test("assertion keys: published when configured, 404 otherwise, 500 when they fail", async (t) => {
  let keys: import("../../src/admin/server.js").PublishedKeys | undefined;
  const server = createAdminServer({
    registry: new Registry(),
    ready: () => true,
    assertionKeys: () => keys,
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  t.equal((await answer(`${url}/.well-known/jwks.json`)).status, 404, "no assertions configured");
  t.equal((await answer(`${url}/.well-known/alb-keys/k1`)).status, 404);
  keys = {
    jwks: async () => ({ keys: [{ kid: "k1" }] }),
    pem: async (kid) => (kid === "k1" ? "-----BEGIN PUBLIC KEY-----\n" : undefined),
  };
  const jwks = await fetch(`${url}/.well-known/jwks.json?x=1`);
  t.equal(jwks.status, 200);
  t.equal(jwks.headers.get("cache-control"), "public, max-age=300");
  t.strictSame(await jwks.json(), { keys: [{ kid: "k1" }] });
  const pem = await fetch(`${url}/.well-known/alb-keys/k1`);
  t.equal(pem.headers.get("content-type"), "application/x-pem-file");
  t.equal(await pem.text(), "-----BEGIN PUBLIC KEY-----\n");
  const unknown = await answer(`${url}/.well-known/alb-keys/k2`);
  t.same(unknown, { status: 404, type: "application/json", body: '{"error":"not_found"}' });
  keys = { jwks: () => Promise.reject(new Error("boom")), pem: () => Promise.reject(new Error("boom")) };
  t.same(await answer(`${url}/.well-known/jwks.json`), {
    status: 500,
    type: "application/json",
    body: '{"error":"keys_unavailable"}',
  });
});

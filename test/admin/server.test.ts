import type { AddressInfo } from "node:net";
import { Gauge, Registry } from "prom-client";
import t, { type Test } from "tap";
import { createAdminServer } from "../../src/admin/server.js";

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

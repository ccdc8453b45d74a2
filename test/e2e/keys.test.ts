import t, { type Test } from "tap";
import { startApp, waitReady } from "../support/app.js";
import { makeKey, startIssuer } from "../support/issuer.js";
import { startUpstream } from "../support/upstream.js";
import { waitFor } from "../support/wait.js";

/** JWKS life: readiness waits for keys, rotation works, junk kids and outages do not hammer the issuer. */

const routes = (upstream: string) => `
routes:
  - id: api
    match: { pathPrefix: /api }
    upstream: ${upstream}
`;

async function setup(t: Test, opts: { issuerUp?: boolean; wait?: number } = {}) {
  const issuer = await startIssuer();
  issuer.up = opts.issuerUp ?? true;
  const up = await startUpstream();
  const app = await startApp(`
tokens: { unknownKidWaitSeconds: ${opts.wait ?? 60} }
issuers:
  - { id: local, issuer: "${issuer.issuer}", jwksUri: "${issuer.jwksUri}", clientIds: [test-client] }
${routes(up.url)}`);
  t.teardown(async () => {
    await app.stop();
    await up.close();
    await issuer.close();
  });
  return { issuer, up, app };
}

const get = async (url: string, token: string) =>
  (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status;

t.test("not ready until the issuer's keys are loaded; 503 meanwhile; ready once they are", async (t) => {
  const { issuer, app, up } = await setup(t, { issuerUp: false });
  await waitFor("cupbearer's first JWKS request to the (down) issuer", () =>
    issuer.jwksRequests > 0 ? true : undefined,
  );
  t.equal((await fetch(`${app.adminUrl}/readyz`)).status, 503, "not ready");
  t.equal((await fetch(`${app.adminUrl}/healthz`)).status, 200, "but alive");
  t.equal(await get(`${app.url}/api/x`, issuer.token()), 503, "a request meanwhile is answered 503");
  t.equal(up.requests.length, 0, "and never forwarded");
  issuer.up = true;
  await waitReady(app.adminUrl, 5000);
  t.equal(await get(`${app.url}/api/x`, issuer.token()), 200);
  const metrics = await (await fetch(`${app.adminUrl}/metrics`)).text();
  t.match(metrics, /cupbearer_jwks_fetches_total\{issuer="local",result="failure"\} [1-9]/);
  t.match(metrics, /cupbearer_jwks_fetches_total\{issuer="local",result="success"\} [1-9]/);
});

t.test("key rotation: a token signed with a newly published key is accepted", async (t) => {
  const { issuer, app } = await setup(t, { wait: 1 });
  await waitReady(app.adminUrl);
  t.equal(await get(`${app.url}/api/x`, issuer.token()), 200);
  const fresh = makeKey("rotated");
  issuer.keys = [...issuer.keys, fresh];
  const before = issuer.jwksRequests;
  t.equal(await get(`${app.url}/api/x`, issuer.token({}, { key: fresh })), 200);
  t.equal(issuer.jwksRequests - before, 1, "exactly one refetch");
  t.equal(await get(`${app.url}/api/x`, issuer.token({}, { key: fresh })), 200);
  t.equal(issuer.jwksRequests - before, 1, "the new key is cached");
});

t.test("a flood of unknown kids costs the issuer at most one fetch", async (t) => {
  const { issuer, app, up } = await setup(t);
  await waitReady(app.adminUrl);
  const junk = makeKey("junk");
  const before = issuer.jwksRequests;
  const statuses = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      get(`${app.url}/api/x`, issuer.token({}, { key: junk, header: { kid: `junk-${i}` } })),
    ),
  );
  t.same(new Set(statuses), new Set([401]));
  t.equal(issuer.jwksRequests - before, 1, "one refetch for 50 junk kids");
  t.equal(up.requests.length, 0);
});

t.test("when the issuer goes down, cached keys keep serving new tokens", async (t) => {
  const { issuer, app } = await setup(t);
  await waitReady(app.adminUrl);
  issuer.up = false;
  for (let i = 0; i < 3; i++) t.equal(await get(`${app.url}/api/x`, issuer.token({ sub: `user-${i}` })), 200);
  t.equal((await fetch(`${app.adminUrl}/readyz`)).status, 200, "still ready");
});

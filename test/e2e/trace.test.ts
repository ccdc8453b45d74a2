/**
 * W3C traceparent through the proxy: kept when valid, started when absent or invalid, the same
 * trace id in the upstream's header and in the access-log line, refused requests included.
 */
import t from "tap";
import { request } from "undici";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { startIssuer, type TestIssuer } from "../support/issuer.js";
import { type RecordingUpstream, startUpstream } from "../support/upstream.js";
import { waitFor } from "../support/wait.js";

let up: RecordingUpstream;
let app: RunningApp;
let issuer: TestIssuer;

t.before(async () => {
  up = await startUpstream();
  issuer = await startIssuer();
  app = await startApp(`
issuers:
  - { id: local, issuer: "${issuer.issuer}", jwksUri: "${issuer.jwksUri}", clientIds: [test-client] }
routes:
  - id: closed
    match: { pathPrefix: /closed }
    upstream: ${up.url}
  - id: open
    match: { pathPrefix: /open }
    upstream: ${up.url}
    auth: { mode: public }
`);
  await waitReady(app.adminUrl);
});
t.teardown(async () => {
  await app.stop();
  await up.close();
  await issuer.close();
});

const VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async function send(path: string, requestId: string, traceparent?: string, token?: string) {
  const res = await request(`${app.url}${path}`, {
    headers: {
      "x-request-id": requestId,
      ...(traceparent === undefined ? {} : { traceparent }),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
  });
  await res.body.dump();
  const line = await waitFor(`the access log line of ${requestId}`, () =>
    app.logs.find((l) => l.requestId === requestId),
  );
  return { status: res.statusCode, line };
}

t.test("a valid traceparent reaches the upstream unchanged, its trace id in the log", async (t) => {
  const { status, line } = await send("/open/a", "trace-test-0001", VALID);
  t.equal(status, 200);
  const got = up.requests.at(-1);
  t.equal(got?.headers.traceparent, VALID);
  t.equal(line?.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
});

t.test("none or an invalid one: a new trace, the same id upstream and in the log", async (t) => {
  for (const [i, header] of [undefined, "00-nope", VALID.toUpperCase()].entries()) {
    const { line } = await send("/open/b", `trace-test-001${i}`, header);
    const sent = up.requests.at(-1)?.headers.traceparent;
    t.match(sent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, `started (${header})`);
    t.equal(line?.traceId, String(sent).slice(3, 35), "the log names it");
  }
});

t.test("a refused request's log line has a trace id too", async (t) => {
  const { status, line } = await send("/nowhere", "trace-test-0100", VALID);
  t.equal(status, 404);
  t.equal(line?.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
});

t.test("the caller's sub and issuer are in the line, beside the trace id", async (t) => {
  const { status, line } = await send("/closed/x", "trace-test-0200", VALID, issuer.token());
  t.equal(status, 200);
  t.match(line, {
    route: "closed",
    sub: "user-1",
    issuer: "local",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  });
  const refused = await send("/closed/y", "trace-test-0201", undefined, issuer.token({ exp: 1 }));
  t.equal(refused.status, 401);
  t.match(refused.line, { reason: "expired", traceId: /^[0-9a-f]{32}$/ });
});

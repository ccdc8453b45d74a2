/**
 * The tracer interface: when traces are wanted, the no-op path, and the OpenTelemetry tracer in
 * this process exporting to a local OTLP/HTTP receiver (root spans of started traces, unsampled
 * parents, failures), with the identity-pool calls of a real CognitoIdentity client against a
 * protocol-level fake as children of a request span.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import t from "tap";
import { traceContext } from "../src/core/trace.js";
import { requestSpan, upstreamSpan } from "../src/proxy/spans.js";
import { loadTracer, NO_SPAN, traced, tracesWanted } from "../src/tracing.js";
import { expectError, expectOk, type FakeAnswer, fakeService, providerFor } from "./support/moto-aws.js";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  status?: { code?: number };
  attributes: Array<{ key: string; value: { stringValue?: string; intValue?: number | string } }>;
}

const bodies: string[] = [];
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    bodies.push(Buffer.concat(chunks).toString("utf8"));
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
});
await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
t.teardown(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

function spans(): OtlpSpan[] {
  return bodies.flatMap((b) =>
    (
      JSON.parse(b) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> }
    ).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)),
  );
}
const attr = (s: OtlpSpan | undefined, key: string) => {
  const v = s?.attributes.find((a) => a.key === key)?.value;
  return v?.intValue !== undefined ? Number(v.intValue) : v?.stringValue;
};
const ERROR = 2;

t.test("traces are wanted only with an OTLP endpoint, and not when disabled", async (t) => {
  const cases: Array<[NodeJS.ProcessEnv, boolean]> = [
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "" }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "  " }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://127.0.0.1:4318/v1/traces" }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://x", OTEL_SDK_DISABLED: "TRUE" }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://x", OTEL_SDK_DISABLED: "false" }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://x", OTEL_TRACES_EXPORTER: "none" }, false],
  ];
  for (const [env, wanted] of cases) t.equal(tracesWanted(env), wanted, JSON.stringify(env));
  t.equal(await loadTracer({}), undefined, "no tracer without an endpoint");
});

t.test("the no-op span adds nothing", async (t) => {
  const call = Promise.resolve(200);
  t.equal(
    traced(NO_SPAN, call, () => "x"),
    call,
    "the same promise, not a new one",
  );
  t.equal(NO_SPAN.traceparent, undefined);
  t.doesNotThrow(() => {
    NO_SPAN.setAttribute("a", 1);
    NO_SPAN.end(200);
  });
  t.ok(Object.isFrozen(NO_SPAN));
});

t.test("the OpenTelemetry tracer exports to the OTLP endpoint", async (t) => {
  const tracer = await loadTracer({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${endpoint}/v1/traces` });
  // The exporter reads the standard variables itself.
  process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = `${endpoint}/v1/traces`;
  const otel = await loadTracer(process.env);
  delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (tracer === undefined || otel === undefined) return t.fail("no tracer with an endpoint");
  await tracer.shutdown();

  // A trace cupbearer started: a root span with its trace id.
  const started = traceContext(undefined, (n) => "ab".repeat(n));
  const root = otel.startSpan("GET", "server", { "url.path": "/a" }, started);
  t.match(root.traceparent, new RegExp(`^00-${started.traceId}-[0-9a-f]{16}-01$`));
  const child = otel.startSpan("GET", "client", {}, root);
  await traced(child, Promise.resolve(503), () => "x");
  const failed = otel.startSpan("GET", "client", {}, root);
  await t.rejects(
    traced(failed, Promise.reject(new Error("boom")), () => "upstream_error"),
    { message: "boom" },
  );
  root.setAttribute("cupbearer.route", "r");
  root.end(401, "expired");

  // A client's parent that is not sampled: nothing recorded, no parent named.
  const unsampled = traceContext("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", () => "00");
  const quiet = otel.startSpan("GET", "server", {}, unsampled);
  t.equal(quiet.traceparent, undefined, "an unsampled span names no parent");
  // Its upstream call is not recorded either: the traceparent prepared goes on unchanged.
  const headers = ["x-request-id", "r", "traceparent", unsampled.traceparent];
  const quietCall = upstreamSpan(otel, quiet, "GET", "https://api.example", { path: "/p?q=1", headers });
  t.equal(headers[3], unsampled.traceparent);
  quietCall.end(200);
  quiet.end(200);
  // A recorded upstream call replaces it with its own id; https without a port is 443.
  const parentSpan = requestSpan(otel, { httpVersion: "1.1" } as IncomingMessage, "PUT", started);
  const sent = ["traceparent", started.traceparent];
  const call = upstreamSpan(otel, parentSpan, "PUT", "https://api.example", {
    path: "/p?secret=1",
    headers: sent,
  });
  t.equal(sent[1], call.traceparent, "the upstream is told the call's span");
  call.end(204);
  parentSpan.end(204);
  // A parent that is neither a span nor a trace: a root.
  const orphan = otel.startSpan("x", "internal", {}, NO_SPAN);
  t.match(orphan.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  orphan.end();

  // Identity-pool calls of a real SDK client, children of the request span.
  const request = otel.startSpan("GET", "server", {}, started);
  const { client } = await fakeService(t, (operation): FakeAnswer => {
    if (operation === "GetId") return { status: 200, body: { IdentityId: "us-east-1:fake" } };
    return { status: 400, body: { __type: "NotAuthorizedException", message: "no" } };
  });
  const provider = providerFor(client, { tracer: otel });
  const error = expectError(
    await provider.get({ issuer: "https://i.example", sub: "s", idToken: "secret-token", parent: request }),
  );
  t.equal(error.kind, "invalid_token");
  request.end(403);
  const { client: good } = await fakeService(
    t,
    (operation): FakeAnswer =>
      operation === "GetId"
        ? { status: 200, body: { IdentityId: "us-east-1:fake" } }
        : {
            status: 200,
            body: {
              IdentityId: "us-east-1:fake",
              Credentials: {
                AccessKeyId: "AK",
                SecretKey: "S",
                SessionToken: "T",
                Expiration: Date.now() / 1000 + 3600,
              },
            },
          },
  );
  expectOk(
    t,
    await providerFor(good, { tracer: otel }).get({ issuer: "https://i.example", sub: "s", idToken: "t" }),
  );

  await otel.shutdown();
  const all = spans();
  const exported = all.find((s) => s.spanId === root.traceparent?.slice(36, 52));
  t.equal(exported?.traceId, started.traceId, "the started trace id");
  t.notOk(exported?.parentSpanId, "a root");
  t.equal(exported?.status?.code, ERROR, "a refused request is an error");
  t.equal(attr(exported, "error.type"), "expired");
  t.equal(attr(exported, "cupbearer.route"), "r");
  const kids = all.filter((s) => s.parentSpanId === exported?.spanId);
  t.equal(kids.length, 2);
  t.same(
    kids.map((s) => attr(s, "error.type")).sort(),
    ["503", "upstream_error"],
    "5xx and failure are errors",
  );
  t.notOk(
    all.some((s) => s.traceId === "4bf92f3577b34da6a3ce929d0e0e4736"),
    "nothing of the unsampled trace",
  );

  const requestId = request.traceparent?.slice(36, 52);
  const aws = all.filter((s) => s.parentSpanId === requestId);
  t.same(
    aws.map((s) => s.name),
    ["CognitoIdentity/GetId", "CognitoIdentity/GetCredentialsForIdentity"],
    "the identity-pool calls under the request",
  );
  t.equal(attr(aws[1], "error.type"), "NotAuthorizedException");
  t.equal(attr(aws[0], "rpc.system"), "aws-api");
  t.ok(
    all.filter((s) => s.name.startsWith("CognitoIdentity/")).length >= 4,
    "calls without a parent are roots",
  );
  t.notOk(bodies.join("").includes("secret-token"), "no token in any payload");
  const put = all.find((s) => s.spanId === call.traceparent?.slice(36, 52));
  t.equal(attr(put, "server.port"), 443);
  t.equal(attr(put, "url.path"), "/p", "no query");
  t.notOk(bodies.join("").includes("secret=1"), "no query string in any payload");
});

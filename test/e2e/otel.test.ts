/**
 * Traces exported over OTLP/HTTP: cupbearer's built bin as a child process with
 * OTEL_EXPORTER_OTLP_ENDPOINT pointing at a receiver written here (POST /v1/traces, JSON), in
 * front of cognito-local and a recording upstream. The spans of the request, the upstream call
 * and the JWKS fetch arrive (flushed at shutdown), the upstream is told the upstream span as its
 * parent, and no token or query string is in any payload. Without the variable, an import hook
 * proves no OpenTelemetry module is ever loaded.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import t, { type Test } from "tap";
import { type SeededPool, seedPool } from "../../demo/cognito-emulator.js";
import { waitReady } from "../support/app.js";
import { CLI } from "../support/cli.js";
import { freePort } from "../support/emulators.js";
import { sharedCognitoLocal } from "../support/shared.js";
import { type RecordingUpstream, startUpstream } from "../support/upstream.js";

t.setTimeout(120_000);

const PASSWORD = "Passw0rd!";
const cognito = await sharedCognitoLocal(t);
const up: RecordingUpstream = await startUpstream();
t.teardown(() => up.close());
const dir = await mkdtemp(join(tmpdir(), "cupbearer-otel-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));

// An import hook that writes down every OpenTelemetry module the process resolves.
const HOOKS = join(dir, "hooks.mjs");
const REGISTER = join(dir, "register.mjs");
await writeFile(
  HOOKS,
  `import { appendFileSync } from "node:fs";
let log;
export function initialize(file) { log = file; }
export async function resolve(specifier, context, next) {
  const found = await next(specifier, context);
  if (/@opentelemetry|tracing-otel/.test(found.url)) appendFileSync(log, found.url + "\\n");
  return found;
}
`,
);

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: number | string; boolValue?: boolean };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: OtlpAttribute[];
}
const SERVER = 2;
const CLIENT = 3;

/** A local OTLP/HTTP receiver: every body POSTed to /v1/traces, as sent. */
async function startReceiver(t: Test) {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/traces") {
        res.writeHead(404).end();
        return;
      }
      bodies.push(Buffer.concat(chunks).toString("utf8"));
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const spans = (): OtlpSpan[] =>
    bodies.flatMap((b) => {
      const doc = JSON.parse(b) as {
        resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
      };
      return doc.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies, spans };
}

function attr(span: OtlpSpan, key: string): string | number | boolean | undefined {
  const v = span.attributes.find((a) => a.key === key)?.value;
  if (v === undefined) return undefined;
  if (v.intValue !== undefined) return Number(v.intValue);
  return v.stringValue ?? v.boolValue;
}

/** This process's environment (coverage settings included) without any OTEL_ variable. */
function withoutOtel(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith("OTEL_")));
}

/** The built bin with the import hook and `env` added; resolves once ready. */
async function startCupbearer(t: Test, pool: SeededPool, env: Record<string, string>, modulesLog: string) {
  const [port, adminPort] = await Promise.all([freePort(), freePort()]);
  const file = join(dir, `config-${port}.yaml`);
  await writeFile(
    file,
    `
listen: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
log: { level: warn }
issuers:
  - { id: local, issuer: "${pool.issuer}", jwksUri: "${pool.jwksUri}", clientIds: ["${pool.clientId}"] }
routes:
  - id: api
    match: { pathPrefix: /api }
    upstream: ${up.url}
    auth: { tokenUse: id }
`,
  );
  await writeFile(
    REGISTER,
    `import { register } from "node:module";
register(${JSON.stringify(pathToFileURL(HOOKS).href)}, { data: process.env.MODULES_LOG });
`,
  );
  await writeFile(modulesLog, "");
  const child: ChildProcess = spawn(process.execPath, ["--import", REGISTER, CLI, "--config", file], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...withoutOtel(process.env), MODULES_LOG: modulesLog, ...env },
  });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  await waitReady(`http://127.0.0.1:${adminPort}`, 20_000);
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
    stderr: () => stderr,
  };
}

t.test("spans of the request, the upstream call and the JWKS fetch reach the OTLP receiver", async (t) => {
  if (cognito === undefined) return t.pass("cognito-local not running", { skip: "see the SKIPPED banner" });
  const pool = await seedPool(cognito.endpoint, {
    poolName: "cupbearer-otel",
    users: [{ username: "alice", password: PASSWORD }],
  });
  const { idToken } = await pool.signIn("alice", PASSWORD);
  const receiver = await startReceiver(t);
  const modulesLog = join(dir, "modules-on.log");
  const proxy = await startCupbearer(
    t,
    pool,
    {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_SERVICE_NAME: "cupbearer-e2e",
      // Nothing leaves before shutdown: what arrives was flushed by the graceful stop.
      OTEL_BSP_SCHEDULE_DELAY: "600000",
    },
    modulesLog,
  );

  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const incoming = `00-${traceId}-00f067aa0ba902b7-01`;
  const before = up.requests.length;
  const res = await fetch(`${proxy.url}/api/orders/7?secret=hunter2`, {
    headers: { authorization: `Bearer ${idToken}`, traceparent: incoming },
  });
  t.equal(res.status, 200, "the request passes");
  await res.arrayBuffer();
  t.equal(up.requests.length, before + 1);
  const sent = String(up.requests[before]?.headers.traceparent);

  // A request without traceparent: cupbearer's own trace, a root span with that trace id.
  const plain = await fetch(`${proxy.url}/api/plain`, { headers: { authorization: `Bearer ${idToken}` } });
  await plain.arrayBuffer();
  const startedSent = String(up.requests[before + 1]?.headers.traceparent);

  const refused = await fetch(`${proxy.url}/api/refused`, {
    headers: { authorization: "Bearer not.a.token" },
  });
  t.equal(refused.status, 401);
  await refused.arrayBuffer();

  t.equal(receiver.bodies.length, 0, "nothing exported before shutdown (batched)");
  t.equal(await proxy.stop(), 0, "stops cleanly");
  const spans = receiver.spans();
  t.ok(spans.length >= 4, `spans exported at shutdown (${spans.length})`);

  const server = spans.find((s) => s.kind === SERVER && s.traceId === traceId);
  if (server === undefined) return t.fail("no request span in the incoming trace");
  t.equal(server.parentSpanId, "00f067aa0ba902b7", "the request span is a child of the incoming traceparent");
  t.equal(server.name, "GET");
  t.equal(attr(server, "http.request.method"), "GET");
  t.equal(attr(server, "url.path"), "/api/orders/7", "the path, without its query");
  t.equal(attr(server, "http.response.status_code"), 200);
  t.equal(attr(server, "cupbearer.route"), "api");

  const call = spans.find((s) => s.kind === CLIENT && s.parentSpanId === server.spanId);
  if (call === undefined) return t.fail("no upstream span under the request span");
  t.equal(call.traceId, traceId, "the upstream span is in the same trace");
  t.equal(attr(call, "server.address"), "127.0.0.1");
  t.equal(attr(call, "server.port"), up.port);
  t.equal(attr(call, "url.path"), "/api/orders/7");
  t.equal(attr(call, "http.response.status_code"), 200);
  t.equal(sent, `00-${traceId}-${call.spanId}-01`, "the upstream is told the upstream span as its parent");

  const [, startedTrace, startedParent] = startedSent.split("-");
  const root = spans.find((s) => s.kind === SERVER && s.traceId === startedTrace);
  if (root === undefined) return t.fail("no root span for the trace cupbearer started");
  t.notOk(root.parentSpanId, "a root span");
  const rootCall = spans.find((s) => s.kind === CLIENT && s.parentSpanId === root.spanId);
  t.equal(rootCall?.spanId, startedParent, "its upstream span is the parent the upstream sees");

  const denied = spans.find((s) => s.kind === SERVER && attr(s, "url.path") === "/api/refused");
  t.equal(attr(denied ?? server, "http.response.status_code"), 401, "the refused request has its span");
  t.ok(denied && attr(denied, "error.type") !== undefined, "marked failed with the refusal's reason");

  const jwksPath = new URL(pool.jwksUri).pathname;
  const jwks = spans.find((s) => s.kind === CLIENT && attr(s, "url.path") === jwksPath);
  if (jwks === undefined) return t.fail("no JWKS fetch span");
  t.equal(attr(jwks, "http.request.method"), "GET");
  t.equal(attr(jwks, "http.response.status_code"), 200);

  const all = receiver.bodies.join("\n");
  t.ok(all.includes('"cupbearer-e2e"'), "the service name from OTEL_SERVICE_NAME");
  const signature = idToken.split(".")[2] ?? idToken;
  t.notOk(all.includes(signature), "no token signature in any payload");
  t.notOk(all.includes(idToken.split(".")[1] ?? idToken), "no token claims in any payload");
  t.notOk(all.includes("hunter2"), "no query string in any payload");
  // "cupbearer" itself is in the payload (the service name): only "Bearer" as a word is a leak.
  t.notOk(/\bbearer\b|authorization|not\.a\.token/i.test(all), "no authorization header in any payload");

  const loaded = await readFile(modulesLog, "utf8");
  t.match(loaded, /@opentelemetry\/sdk-trace/, "the import hook sees the SDK when it is loaded");
  t.equal(proxy.stderr(), "", "nothing on stderr");
});

t.test("without an OTLP endpoint no OpenTelemetry module is loaded", async (t) => {
  if (cognito === undefined) return t.pass("cognito-local not running", { skip: "see the SKIPPED banner" });
  const pool = await seedPool(cognito.endpoint, {
    poolName: "cupbearer-otel-off",
    users: [{ username: "bob", password: PASSWORD }],
  });
  const { idToken } = await pool.signIn("bob", PASSWORD);
  const modulesLog = join(dir, "modules-off.log");
  const proxy = await startCupbearer(t, pool, {}, modulesLog);
  const res = await fetch(`${proxy.url}/api/x`, {
    headers: {
      authorization: `Bearer ${idToken}`,
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    },
  });
  t.equal(res.status, 200);
  await res.arrayBuffer();
  t.equal(
    up.requests.at(-1)?.headers.traceparent,
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "not a traced participant: the traceparent goes on unchanged",
  );
  t.equal(await proxy.stop(), 0);
  t.equal(await readFile(modulesLog, "utf8"), "", "no OpenTelemetry module resolved");
});

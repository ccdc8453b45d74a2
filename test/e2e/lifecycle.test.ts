import { once } from "node:events";
import { mkdtemp, writeFile } from "node:fs/promises";
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { request } from "undici";
import { WebSocket, WebSocketServer } from "ws";
import { startApp, waitReady } from "../support/app.js";
import { runCli, runMain, spawnCli } from "../support/cli.js";
import { freePorts } from "../support/emulators.js";
import { startIssuer } from "../support/issuer.js";
import { startUpstream } from "../support/upstream.js";
import { waitFor } from "../support/wait.js";

/** The CLI as users run it: main() for what it says, the real bin for exit codes and signals. */
t.test("check: exit 0 for a valid file, 2 naming every wrong key for an invalid one", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-"));
  const good = join(dir, "good.yaml");
  const bad = join(dir, "bad.yaml");
  await writeFile(good, "routes:\n  - { id: a, upstream: 'http://127.0.0.1:1', auth: { mode: public } }\n");
  await writeFile(
    bad,
    "routes:\n  - { id: a, upstream: 'http://127.0.0.1:1', auth: { mode: public } }\n  - { id: b, upstream: 'ftp://x', auth: { scopes: read }, extra: 1 }\n",
  );
  // The bin, for what only a process shows: its exit codes, and the version found from dist/.
  const [binBad, binVersion] = await Promise.all([
    runCli(t, ["check", "--config", bad]),
    runCli(t, ["--version"]),
  ]);
  t.equal(binBad.code, 2, "the bin exits 2 for an invalid config");
  t.match(binBad.stderr, "routes[1].extra: unknown key");
  t.equal(binVersion.code, 0);
  t.match(binVersion.stdout, /^\d+\.\d+\.\d+\n$/);

  const ok = await runMain(t, ["check", "--config", good]);
  t.equal(ok.code, 0);
  t.match(ok.stdout, /OK \(1 route, 0 issuers\)/);
  const no = await runMain(t, ["check", "--config", bad]);
  t.equal(no.code, 2);
  t.match(no.stderr, "routes[1].extra: unknown key");
  t.match(no.stderr, "routes[1].upstream.url: expected an http:// or https:// URL without credentials");
  t.match(no.stderr, "routes[1].auth.scopes: expected a list of strings");
  const missing = await runMain(t, ["check"]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /no config/);
  const fromEnv = await runMain(t, ["check"], { CUPBEARER_CONFIG: good });
  t.equal(fromEnv.code, 0, "CUPBEARER_CONFIG names the file");
  t.match(fromEnv.stdout, `${good}: OK`);
  const version = await runMain(t, ["--version"]);
  t.equal(version.code, 0);
  t.equal(version.stdout, binVersion.stdout, "the same version from src/ and dist/");
});

t.test("SIGTERM: not ready at once, the in-flight request finishes, then exit 0", async (t) => {
  const up = await startUpstream();
  t.teardown(() => up.close());
  let release: (() => void) | undefined;
  up.handler = (_rec, res) => {
    release = () => res.end("finished");
  };
  const [port, adminPort] = await freePorts(2);
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-"));
  const file = join(dir, "config.yaml");
  await writeFile(
    file,
    `listen: { host: 127.0.0.1, port: ${port} }\nadmin: { host: 127.0.0.1, port: ${adminPort} }\nshutdown: { drainTimeoutMs: 5000 }\nroutes:\n  - { id: a, upstream: "${up.url}", auth: { mode: public } }\n`,
  );
  const { child, exited } = spawnCli(t, ["--config", file]);
  await waitReady(`http://127.0.0.1:${adminPort}`, 20_000);

  const inFlight = request(`http://127.0.0.1:${port}/slow`);
  const finish = await waitFor("the upstream to receive /slow", () => release);
  child.kill("SIGTERM");
  const ready = await waitFor("/readyz to stop answering 200 after SIGTERM", async () => {
    const status = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    return status === 200 ? undefined : status;
  });
  t.equal(ready, 503, "readiness turns 503 while draining");
  const refused = await fetch(`http://127.0.0.1:${port}/new`).then(
    () => "accepted",
    () => "refused",
  );
  t.equal(refused, "refused", "no new connections are accepted");
  finish();
  const res = await inFlight;
  t.equal(res.statusCode, 200);
  t.equal(await res.body.text(), "finished", "the in-flight request completed");
  t.equal(await exited, 0, "exit code 0");
});

t.test(
  "stop is bounded by the drain: a key fetch or an admin request left open does not hold it",
  async (t) => {
    // An issuer that takes connections and never answers: the key load at start stays in flight.
    const seen: Socket[] = [];
    const silent = createNetServer((socket) => seen.push(socket)).listen(0, "127.0.0.1");
    await once(silent, "listening");
    t.teardown(() => {
      for (const s of seen) s.destroy();
      silent.close();
    });
    const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const app = await startApp(`
tokens: { jwksTimeoutMs: 60000 }
shutdown: { drainTimeoutMs: 200 }
issuers:
  - { id: hung, issuer: "${silentUrl}", jwksUri: "${silentUrl}/jwks", anyClient: true }
routes:
  - { id: a, upstream: "${silentUrl}", auth: { mode: public } }
`);
    t.teardown(() => app.stop());
    await waitFor("the key fetch to reach the hanging issuer", () => (seen.length > 0 ? true : undefined));
    // A client that began a request on the admin port and never finished it.
    const { port: adminPort } = new URL(app.adminUrl);
    const slow = connect(Number(adminPort), "127.0.0.1");
    await once(slow, "connect");
    slow.write("GET /readyz HTTP/1.1\r\nHost: x\r\n");
    // The cut may read as a reset (an "error" before "close").
    const slowClosed = new Promise<void>((resolve) =>
      slow.on("error", () => {}).on("close", () => resolve()),
    );

    const started = Date.now();
    const outcome = await Promise.race([
      app.stop().then(() => "stopped"),
      new Promise<string>((resolve) =>
        setTimeout(() => resolve("still stopping after 10 s"), 10_000).unref(),
      ),
    ]);
    t.equal(outcome, "stopped", "stop does not wait out the 60-s key fetch nor the half-sent request");
    t.ok(Date.now() - started < 5_000, `stopped in ${Date.now() - started} ms`);
    await slowClosed;
    t.pass("the half-sent admin request's connection was cut");
  },
);

t.test("WebSocket: authorized like any request, then a round trip both ways", async (t) => {
  const issuer = await startIssuer();
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  const seen: Array<Record<string, string | string[] | undefined>> = [];
  wss.on("connection", (ws, req) => {
    seen.push(req.headers);
    ws.on("message", (m) => ws.send(`echo:${m.toString()}`));
  });
  await new Promise((r) => wss.once("listening", r));
  const wsPort = (wss.address() as { port: number }).port;
  const app = await startApp(`
issuers:
  - { id: local, issuer: "${issuer.issuer}", jwksUri: "${issuer.jwksUri}", clientIds: [test-client] }
routes:
  - id: ws
    match: { pathPrefix: /ws }
    upstream: http://127.0.0.1:${wsPort}
`);
  t.teardown(async () => {
    await app.stop();
    await new Promise((r) => wss.close(r));
    await issuer.close();
  });
  await waitReady(app.adminUrl);
  const wsUrl = `${app.url.replace("http", "ws")}/ws/chat`;

  const refusedStatus = await new Promise<number>((resolve) => {
    const ws = new WebSocket(wsUrl, { headers: { "x-auth-request-user": "root" } });
    ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    ws.on("open", () => resolve(101));
    ws.on("error", () => undefined);
  });
  t.equal(refusedStatus, 401, "no token: refused before the upstream");
  t.equal(seen.length, 0);

  const reply = await new Promise<string>((resolve, reject) => {
    const ws = new WebSocket(wsUrl, {
      headers: { authorization: `Bearer ${issuer.token()}`, "x-auth-request-user": "root" },
    });
    ws.on("open", () => ws.send("hello"));
    ws.on("message", (m) => {
      resolve(m.toString());
      ws.close();
    });
    ws.on("error", reject);
  });
  t.equal(reply, "echo:hello");
  t.equal(seen.length, 1);
  t.equal(
    seen[0]?.["x-auth-request-user"],
    "user-1",
    "the upstream sees the verified identity, not the spoofed one",
  );
  t.equal(seen[0]?.["x-request-id"] !== undefined, true);
});

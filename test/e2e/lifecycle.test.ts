import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { request } from "undici";
import { WebSocket, WebSocketServer } from "ws";
import { startApp, waitReady } from "../support/app.js";
import { runCli, spawnCli } from "../support/cli.js";
import { freePort } from "../support/emulators.js";
import { startIssuer } from "../support/issuer.js";
import { startUpstream } from "../support/upstream.js";

/** The CLI as users run it: a real process, real signals. */
t.test("check: exit 0 for a valid file, 2 naming every wrong key for an invalid one", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-"));
  const good = join(dir, "good.yaml");
  const bad = join(dir, "bad.yaml");
  await writeFile(good, "routes:\n  - { id: a, upstream: 'http://127.0.0.1:1', auth: { mode: public } }\n");
  await writeFile(
    bad,
    "routes:\n  - { id: a, upstream: 'http://127.0.0.1:1', auth: { mode: public } }\n  - { id: b, upstream: 'ftp://x', auth: { scopes: read }, extra: 1 }\n",
  );
  const ok = await runCli(t, ["check", "--config", good]);
  t.equal(ok.code, 0);
  t.match(ok.stdout, /OK \(1 route, 0 issuers\)/);
  const no = await runCli(t, ["check", "--config", bad]);
  t.equal(no.code, 2);
  t.match(no.stderr, "routes[1].extra: unknown key");
  t.match(no.stderr, "routes[1].upstream.url: expected an http:// or https:// URL without credentials");
  t.match(no.stderr, "routes[1].auth.scopes: expected a list of strings");
  const missing = await runCli(t, ["check"]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /no config/);
  const version = await runCli(t, ["--version"]);
  t.equal(version.code, 0);
  t.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

t.test("SIGTERM: not ready at once, the in-flight request finishes, then exit 0", async (t) => {
  const up = await startUpstream();
  t.teardown(() => up.close());
  let release: (() => void) | undefined;
  up.handler = (_rec, res) => {
    release = () => res.end("finished");
  };
  const [port, adminPort] = [await freePort(), await freePort()];
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-"));
  const file = join(dir, "config.yaml");
  await writeFile(
    file,
    `listen: { host: 127.0.0.1, port: ${port} }\nadmin: { host: 127.0.0.1, port: ${adminPort} }\nshutdown: { drainTimeoutMs: 5000 }\nroutes:\n  - { id: a, upstream: "${up.url}", auth: { mode: public } }\n`,
  );
  const { child, exited } = spawnCli(t, ["--config", file]);
  await waitReady(`http://127.0.0.1:${adminPort}`, 20_000);

  const inFlight = request(`http://127.0.0.1:${port}/slow`);
  while (release === undefined) await new Promise((r) => setTimeout(r, 10));
  child.kill("SIGTERM");
  let ready = 200;
  for (let i = 0; i < 100 && ready === 200; i++) {
    ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
  }
  t.equal(ready, 503, "readiness turns 503 while draining");
  const refused = await fetch(`http://127.0.0.1:${port}/new`).then(
    () => "accepted",
    () => "refused",
  );
  t.equal(refused, "refused", "no new connections are accepted");
  release();
  const res = await inFlight;
  t.equal(res.statusCode, 200);
  t.equal(await res.body.text(), "finished", "the in-flight request completed");
  t.equal(await exited, 0, "exit code 0");
});

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

import type { AddressInfo } from "node:net";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import t from "tap";
import { request } from "undici";
import { WebSocket, WebSocketServer } from "ws";
import { startApp, waitReady } from "../support/app.js";
import { startIssuer, type TestIssuer } from "../support/issuer.js";
import { rawRequest } from "../support/raw.js";
import { type RecordingUpstream, startUpstream } from "../support/upstream.js";
import { waitFor } from "../support/wait.js";

/** Upgrades, odd upstream statuses, shutdown answers, CONNECT and token lifetimes, end to end. */
let issuer: TestIssuer;
let up: RecordingUpstream;
t.before(async () => {
  issuer = await startIssuer();
  up = await startUpstream();
});
t.teardown(async () => {
  await up.close();
  await issuer.close();
});

const issuerYaml = () =>
  `issuers:\n  - { id: local, issuer: "${issuer.issuer}", jwksUri: "${issuer.jwksUri}", clientIds: [test-client], maxTokenLifetimeSeconds: 3600 }\n`;

t.test(
  "a WebSocket upgrade is authorized as the GET it is; any other method is 400 and reaches nothing",
  async (t) => {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    let connections = 0;
    wss.on("connection", (ws) => {
      connections++;
      ws.close();
    });
    await new Promise((r) => wss.once("listening", r));
    const wsPort = (wss.address() as AddressInfo).port;
    const app = await startApp(`${issuerYaml()}routes:
  - id: ws-post
    match: { pathPrefix: /ws, methods: [POST] }
    upstream: http://127.0.0.1:${wsPort}
    auth: { mode: public }
  - id: ws
    match: { pathPrefix: /ws, methods: [GET] }
    upstream: http://127.0.0.1:${wsPort}
    auth: { groups: [admin] }
`);
    t.teardown(async () => {
      await app.stop();
      await new Promise((r) => wss.close(r));
    });
    await waitReady(app.adminUrl);
    const upgrade = (method: string, token: string) =>
      rawRequest(
        app.url,
        `${method} /ws/chat HTTP/1.1\nHost: a.test\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\nAuthorization: Bearer ${token}\n`,
      );
    const post = await upgrade("POST", issuer.token());
    t.equal(post.status, 400, "POST upgrade: 400, though a public route takes POST");
    const staff = await upgrade("GET", issuer.token({ "cognito:groups": ["staff"] }));
    t.equal(staff.status, 403, "GET upgrade: the GET route's rules");
    t.equal(connections, 0, "the WebSocket server never saw either");
    const opened = await new Promise<boolean>((resolve) => {
      const ws = new WebSocket(`${app.url.replace("http", "ws")}/ws/chat`, {
        headers: { authorization: `Bearer ${issuer.token({ "cognito:groups": ["admin"] })}` },
      });
      ws.on("open", () => resolve(true));
      ws.on("unexpected-response", () => resolve(false));
      ws.on("error", () => resolve(false));
    });
    t.ok(opened, "control: an admin's GET upgrade opens");
  },
);

t.test("an upstream status outside 100-599 is a 502, never relayed or counted as such", async (t) => {
  const statuses = [600, 999];
  let next = 0;
  const weird: NetServer = createNetServer((socket) => {
    socket.once("data", () => {
      socket.end(
        `HTTP/1.1 ${statuses[next++ % statuses.length]} Odd\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi`,
      );
    });
  });
  await new Promise<void>((r) => weird.listen(0, "127.0.0.1", r));
  const port = (weird.address() as AddressInfo).port;
  const app = await startApp(
    `routes:\n  - { id: odd, upstream: "http://127.0.0.1:${port}", auth: { mode: public } }\n`,
  );
  t.teardown(async () => {
    await app.stop();
    await new Promise((r) => weird.close(r));
  });
  for (const status of statuses) {
    const res = await request(`${app.url}/x`);
    const body = await res.body.text();
    t.equal(res.statusCode, 502, `upstream ${status}`);
    t.notMatch(body, "hi", "its body is not relayed");
  }
  const metrics = await (await fetch(`${app.adminUrl}/metrics`)).text();
  t.notMatch(metrics, /status="[6-9]\d\d"/, "no metric label outside 100-599");
  t.match(metrics, /status="502"/);
});

t.test("an answer that starts after shutdown began carries Connection: close", async (t) => {
  let release: (() => void) | undefined;
  up.handler = (_req, res) => {
    release = () => res.writeHead(200, { "content-length": "4" }).end("done");
  };
  t.teardown(() => {
    up.handler = undefined;
  });
  const app = await startApp(
    `shutdown: { drainTimeoutMs: 5000 }\nroutes:\n  - { id: a, upstream: "${up.url}", auth: { mode: public } }\n`,
  );
  const inFlight = request(`${app.url}/slow`);
  const finish = await waitFor("the upstream to receive /slow", () => release);
  const stopped = app.stop();
  await waitFor("the app to refuse readiness", async () =>
    (await fetch(`${app.adminUrl}/readyz`).catch(() => undefined))?.status === 200 ? undefined : true,
  );
  finish();
  const res = await inFlight;
  t.equal(await res.body.text(), "done");
  t.equal(res.headers.connection, "close", "decided when the upstream's answer started, during the drain");
  await stopped;
});

t.test("CONNECT is 405: cupbearer opens no tunnels", async (t) => {
  const app = await startApp(`routes:\n  - { id: a, upstream: "${up.url}", auth: { mode: public } }\n`);
  t.teardown(() => app.stop());
  const before = up.requests.length;
  const res = await rawRequest(app.url, "CONNECT 127.0.0.1:22 HTTP/1.1\nHost: 127.0.0.1:22\n");
  t.equal(res.status, 405);
  t.equal(up.requests.length, before);
});

t.test("tokens with iat in the future or a lifetime beyond maxTokenLifetimeSeconds are 401", async (t) => {
  const app = await startApp(`${issuerYaml()}routes:\n  - { id: a, upstream: "${up.url}" }\n`);
  t.teardown(() => app.stop());
  await waitReady(app.adminUrl);
  const now = Math.floor(Date.now() / 1000);
  const cases: Array<[name: string, claims: Record<string, unknown>, status: number]> = [
    ["an hour's token", { iat: now, exp: now + 3600 }, 200],
    ["iat an hour ahead", { iat: now + 3600, exp: now + 3700 }, 401],
    ["a day's token where an hour is the most", { iat: now, exp: now + 86_400 }, 401],
    ["no iat, expiring in two hours", { iat: undefined, exp: now + 7200 }, 401],
  ];
  const before = up.requests.length;
  for (const [name, claims, status] of cases) {
    const res = await request(`${app.url}/x`, {
      headers: { authorization: `Bearer ${issuer.token(claims)}` },
    });
    await res.body.dump();
    t.equal(res.statusCode, status, name);
  }
  t.equal(up.requests.length, before + 1, "only the good one reached the upstream");
  const refused = app.logs.filter((l) => l.msg === "request refused").map((l) => l.reason);
  t.strictSame(refused, ["not_yet_valid", "lifetime", "lifetime"]);
});

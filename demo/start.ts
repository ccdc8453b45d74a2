/**
 * `npm start`: a complete local demo with no AWS account. A Cognito user-pool emulator with a
 * seeded user, a small upstream that shows what it receives, and cupbearer in front of it; then
 * two ready curl commands, one answered 401 and one (with a freshly issued token) answered 200.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createApp } from "../src/app.js";
import { parseConfigText } from "../src/config/load.js";
import { seedPool, startCognitoLocal } from "./cognito-emulator.js";

const PROXY_PORT = Number(process.env.PORT ?? 8080);
const ADMIN_PORT = Number(process.env.ADMIN_PORT ?? 9090);

/** The demo upstream: echoes the identity cupbearer vouched for. */
function startUpstream(): Promise<Server> {
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      `${JSON.stringify(
        {
          message: "Hello from the demo upstream. cupbearer let this request through.",
          path: req.url,
          user: req.headers["x-auth-request-user"],
          email: req.headers["x-auth-request-email"],
          groups: req.headers["x-auth-request-groups"],
        },
        null,
        2,
      )}\n`,
    );
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** Port 8080/9090 when free, any free port otherwise, so the demo starts on a busy machine too. */
async function portOrAny(port: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(0));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(port)));
  });
}

async function main(): Promise<void> {
  process.stdout.write("Starting the Cognito user-pool emulator (cognito-local)...\n");
  const emulator = await startCognitoLocal();
  const pool = await seedPool(emulator.endpoint, {
    poolName: "demo",
    groups: ["staff"],
    users: [{ username: "demo", password: "Demo-Passw0rd!", email: "demo@example.com", groups: ["staff"] }],
  });
  const upstream = await startUpstream();
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  const yaml = `
listen: { host: 127.0.0.1, port: ${await portOrAny(PROXY_PORT)} }
admin: { host: 127.0.0.1, port: ${await portOrAny(ADMIN_PORT)} }
issuers:
  - id: demo
    issuer: ${pool.issuer}
    jwksUri: ${pool.jwksUri}
    clientIds: [${pool.clientId}]
routes:
  - id: hello
    match: { pathPrefix: /hello }
    upstream: ${upstreamUrl}
    auth: { mode: required, tokenUse: access, groups: [staff] }
`;
  const app = createApp(parseConfigText(yaml));
  const { port, adminPort } = await app.start();
  while (!app.ready()) await new Promise((r) => setTimeout(r, 50));
  const { accessToken } = await pool.signIn("demo", "Demo-Passw0rd!");
  const base = `http://127.0.0.1:${port}`;

  process.stdout.write(`
cupbearer is running on ${base} (admin: http://127.0.0.1:${adminPort}/metrics, /healthz, /readyz)
in front of a demo upstream, checking tokens of the emulated user pool ${pool.poolId}.
Config in use:${yaml.replace(/\n/g, "\n    ")}
Without a token (401):

  curl -i ${base}/hello

With a fresh access token of user "demo" in group "staff" (200):

  curl -i -H 'Authorization: Bearer ${accessToken}' ${base}/hello

Press Ctrl-C to stop.
`);

  const stop = async () => {
    await app.stop();
    upstream.close();
    await emulator.stop();
    process.exit(0);
  };
  process.once("SIGINT", stop).once("SIGTERM", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});

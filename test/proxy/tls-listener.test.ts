/**
 * listen.tls: cupbearer terminates TLS itself, with a test CA made at test time. Certificates
 * are read again on reload and when their files change; client certificates with
 * `clientAuth: require`.
 */
import { connect, type TLSSocket } from "node:tls";
import t, { type Test } from "tap";
import { parseConfigText } from "../../src/config/load.js";
import type { ConfigError } from "../../src/config/types.js";
import { startApp } from "../support/app.js";
import { makeTestPki, type TestPki } from "../support/tls.js";
import { startUpstream } from "../support/upstream.js";
import { waitFor } from "../support/wait.js";

function pkiFor(t: Test): TestPki | undefined {
  try {
    const pki = makeTestPki();
    t.teardown(() => pki.remove());
    return pki;
  } catch (err) {
    if (process.env.CI === "true") t.fail(`openssl is required under CI=true: ${(err as Error).message}`);
    else t.pass("openssl missing", { skip: `SKIPPED: openssl not available (${(err as Error).message})` });
    return undefined;
  }
}

/** The serial of the certificate a new TLS connection is served, or the connection's error. */
function served(url: string, options: { ca: Buffer; cert?: Buffer; key?: Buffer }): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ host: "127.0.0.1", port: Number(port), ...options }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      // A request proves the handshake's outcome with client certificates (TLS 1.3 checks them late).
      socket.write("GET /x HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n");
      let answer = "";
      socket.on("data", (d: Buffer) => {
        answer += d.toString();
      });
      socket.on("end", () =>
        answer.startsWith("HTTP/1.1 200") ? resolve(serial) : reject(new Error(answer)),
      );
    });
    socket.on("error", reject);
  });
}

const routes = (upstream: string) =>
  `routes:\n  - { id: api, upstream: "${upstream}", auth: { mode: public } }\n`;

t.test("HTTPS with the configured certificate; rotated files are picked up", async (t) => {
  const pki = pkiFor(t);
  if (pki === undefined) return;
  const up = await startUpstream();
  t.teardown(() => up.close());
  const app = await startApp(
    routes(up.url),
    {},
    `tls: { certFile: "${pki.certFile}", keyFile: "${pki.keyFile}" }`,
  );
  t.teardown(() => app.stop());
  t.match(app.url, /^https:/);
  const first = await served(app.url, { ca: pki.ca });
  t.equal(
    (await fetch(app.url.replace("https:", "http:")).catch((e: Error) => e)) instanceof Error,
    true,
    "no plain HTTP",
  );

  const rotated = pki.rotate().toUpperCase();
  t.not(rotated, first.toUpperCase());
  const now = await waitFor(
    "the rotated certificate to be served",
    async () => {
      const serial = (await served(app.url, { ca: pki.ca })).toUpperCase();
      return serial === rotated ? serial : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 200 },
  );
  t.equal(now, rotated, "new connections get the new certificate, without a restart");
  t.ok(app.logs.some((l) => l.msg === "TLS certificates reloaded"));
});

t.test("a reload reads the files it names; unreadable files keep the certificates in use", async (t) => {
  const pki = pkiFor(t);
  const other = pkiFor(t);
  if (pki === undefined || other === undefined) return;
  const up = await startUpstream();
  t.teardown(() => up.close());
  const listen = (certFile: string, keyFile: string) =>
    `listen: { host: 127.0.0.1, port: 0, tls: { certFile: "${certFile}", keyFile: "${keyFile}" } }\nadmin: { host: 127.0.0.1, port: 0 }\n${routes(up.url)}`;
  const app = await startApp(
    routes(up.url),
    {},
    `tls: { certFile: "${pki.certFile}", keyFile: "${pki.keyFile}" }`,
  );
  t.teardown(() => app.stop());
  await served(app.url, { ca: pki.ca });

  t.equal(await app.app.reload(async () => parseConfigText(listen(other.certFile, other.keyFile), {})), true);
  t.ok(await served(app.url, { ca: other.ca }), "the reloaded certificate is served");
  await t.rejects(served(app.url, { ca: pki.ca }), "the old CA no longer fits");

  t.equal(
    await app.app.reload(async () => parseConfigText(listen("/nonexistent/cert.pem", other.keyFile), {})),
    true,
  );
  t.ok(await served(app.url, { ca: other.ca }), "still the last good certificate");
  t.ok(app.logs.some((l) => l.msg === "TLS certificates not reloaded, the previous ones stay"));
});

t.test("clientAuth: require admits only clients with a certificate from caFile", async (t) => {
  const pki = pkiFor(t);
  if (pki === undefined) return;
  const up = await startUpstream();
  t.teardown(() => up.close());
  const app = await startApp(
    routes(up.url),
    {},
    `tls: { certFile: "${pki.certFile}", keyFile: "${pki.keyFile}", caFile: "${pki.caFile}", clientAuth: require }`,
  );
  t.teardown(() => app.stop());
  await t.rejects(served(app.url, { ca: pki.ca }), "no client certificate: refused");
  const { readFileSync } = await import("node:fs");
  t.ok(
    await served(app.url, {
      ca: pki.ca,
      cert: readFileSync(pki.clientCertFile),
      key: readFileSync(pki.clientKeyFile),
    }),
    "with one: admitted",
  );
  t.equal(up.requests.length, 1, "only the admitted client reached the upstream");
});

t.test("config: clientAuth require needs caFile; unreadable files fail at start", async (t) => {
  const base = `admin: { port: 9999 }\nroutes:\n  - { id: api, upstream: "http://127.0.0.1:1", auth: { mode: public } }\n`;
  const problemsOf = (text: string) => {
    try {
      parseConfigText(text, {});
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };
  t.strictSame(problemsOf(`listen: { tls: { certFile: a, keyFile: b, clientAuth: require } }\n${base}`), [
    "listen.tls: clientAuth: require needs caFile",
  ]);
  t.strictSame(problemsOf(`listen: { tls: { certFile: a, keyFile: b, clientAuth: maybe } }\n${base}`), [
    "listen.tls.clientAuth: expected none or require",
  ]);
  await t.rejects(
    startApp(
      routes("http://127.0.0.1:1"),
      {},
      `tls: { certFile: "/nonexistent.pem", keyFile: "/nonexistent.key" }`,
    ),
    {
      message: /listen\.tls\.certFile: cannot read \/nonexistent\.pem: ENOENT/,
    },
  );
});

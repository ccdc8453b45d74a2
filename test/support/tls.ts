/**
 * A test CA and a server certificate for 127.0.0.1 and localhost, made with the machine's
 * openssl at test time (nothing secret is kept in the repository).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: Buffer;
  readonly certFile: string;
  readonly keyFile: string;
  /** A client certificate signed by the same CA (for mTLS). */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** Issues a fresh server certificate into certFile/keyFile (a rotation); returns its serial. */
  rotate(): string;
  remove(): void;
}

function openssl(args: string[], cwd: string): string {
  return execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] }).toString();
}

/** Throws when openssl is missing: callers skip loudly (or fail under CI). */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "cupbearer-pki-"));
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(
    [
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=cupbearer test CA",
    ],
    dir,
  );
  writeFileSync(
    join(dir, "server.ext"),
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
  );
  writeFileSync(join(dir, "client.ext"), "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
  const issue = (name: string, cn: string, ext: string) => {
    openssl(["req", ...ec, "-keyout", `${name}.key.new`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`], dir);
    openssl(
      [
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
      ].concat(["-extfile", ext, "-out", `${name}.pem.new`]),
      dir,
    );
    // Written in place (not renamed), as a file watcher must see a change of content.
    writeFileSync(join(dir, `${name}.key`), readFileSync(join(dir, `${name}.key.new`)));
    writeFileSync(join(dir, `${name}.pem`), readFileSync(join(dir, `${name}.pem.new`)));
    return openssl(["x509", "-in", `${name}.pem`, "-noout", "-serial"], dir)
      .trim()
      .replace(/^serial=/, "");
  };
  issue("server", "127.0.0.1", "server.ext");
  issue("client", "cupbearer test client", "client.ext");
  return {
    dir,
    caFile: join(dir, "ca.pem"),
    ca: readFileSync(join(dir, "ca.pem")),
    certFile: join(dir, "server.pem"),
    keyFile: join(dir, "server.key"),
    clientCertFile: join(dir, "client.pem"),
    clientKeyFile: join(dir, "client.key"),
    rotate: () => issue("server", "127.0.0.1", "server.ext"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

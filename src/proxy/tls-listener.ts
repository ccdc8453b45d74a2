/**
 * The listener's TLS: certificates read from PEM files, and read again (without dropping a
 * connection) on reload and whenever a file changes, so a rotated certificate (a Kubernetes
 * secret, cert-manager, an ACME client) takes effect while cupbearer runs.
 */
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import type { SecureContextOptions } from "node:tls";
import type { ListenTlsConfig } from "../config/types.js";

/** How often the files are looked at: stat polling follows the symlink swaps of secret mounts. */
const WATCH_INTERVAL_MS = 2000;

/** The certificate, key and CA as TLS wants them; throws naming the file that cannot be read. */
export function readTlsFiles(tls: ListenTlsConfig): SecureContextOptions {
  const read = (key: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(
        `listen.tls.${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
  };
  return {
    cert: read("certFile", tls.certFile),
    key: read("keyFile", tls.keyFile),
    ...(tls.caFile !== undefined && { ca: read("caFile", tls.caFile) }),
  };
}

/** Server options of a TLS listener: the files, and client certificates when `clientAuth: require`. */
export function tlsServerOptions(tls: ListenTlsConfig) {
  const require = tls.clientAuth === "require";
  return { ...readTlsFiles(tls), requestCert: require, rejectUnauthorized: require };
}

/** Calls `changed` when any of the files changes; returns the function that stops watching. */
export function watchTlsFiles(tls: ListenTlsConfig, changed: () => void): () => void {
  const paths = [tls.certFile, tls.keyFile, ...(tls.caFile === undefined ? [] : [tls.caFile])];
  const onChange = (now: { mtimeMs: number; ino: number }, before: { mtimeMs: number; ino: number }) => {
    if (now.mtimeMs !== before.mtimeMs || now.ino !== before.ino) changed();
  };
  for (const path of paths) watchFile(path, { interval: WATCH_INTERVAL_MS, persistent: false }, onChange);
  return () => {
    for (const path of paths) unwatchFile(path, onChange);
  };
}

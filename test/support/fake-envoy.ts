/**
 * A protocol-level Envoy: an HTTP listener on 127.0.0.1 with the ext_authz filter set up for an
 * HTTP authorization service, in front of one upstream. Envoy is not packaged for Debian and
 * cannot be downloaded here, so this does, on the wire, what Envoy's ext_authz documents and its
 * HTTP client (source/extensions/filters/common/ext_authz/ext_authz_http_impl.cc) does:
 *
 * - the check request has the client request's method, its `:authority` as Host, and
 *   `path_prefix` + its path (with the query); `Content-Length: 0` and no body; of the client's
 *   headers only Authorization and the `allowed_headers` (exact names or prefixes, any case);
 *   then `headers_to_add`, overwriting;
 * - a 200 allows: the answer's headers named in `allowed_upstream_headers` are set on the
 *   upstream request (overwriting the client's), and the names listed in
 *   `x-envoy-auth-headers-to-remove` are removed from it (never Host);
 * - a 5xx, a timeout or a refused connection is an error: `status_on_error` (403) with no body
 *   (`failure_mode_allow: false`);
 * - any other status denies: that status, the answer's body, and (no `allowed_client_headers`)
 *   every header of the answer but Host.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { request } from "undici";

export interface FakeEnvoyOptions {
  /** The authorization service's origin (`http_service.server_uri`). */
  readonly authz: string;
  /** `http_service.path_prefix`. */
  readonly pathPrefix: string;
  /** `allowed_headers`: exact names, or `prefix:` + a prefix; Authorization is always sent. */
  readonly allowedHeaders?: readonly string[];
  /** `authorization_request.headers_to_add`. */
  readonly headersToAdd?: Readonly<Record<string, string>>;
  /** `authorization_response.allowed_upstream_headers` (exact names). */
  readonly allowedUpstreamHeaders: readonly string[];
  /** The route's cluster. */
  readonly upstream: string;
  /** `http_service.server_uri.timeout` in ms (Envoy's default: 200). */
  readonly timeoutMs?: number;
}

export interface FakeEnvoy {
  url: string;
  /** Every check request sent, as the authorization service received it. */
  checks: Array<{ method: string; path: string; headers: Record<string, string> }>;
  close(): Promise<void>;
}

// Connection-level headers Envoy never passes on either way (RFC 9110 §7.6.1).
const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"]);

function flat(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>) {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers))
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

export async function startFakeEnvoy(options: FakeEnvoyOptions): Promise<FakeEnvoy> {
  const checks: FakeEnvoy["checks"] = [];
  const allowed = (name: string) =>
    ["authorization", "host"].includes(name) ||
    (options.allowedHeaders ?? []).some((p) =>
      p.startsWith("prefix:") ? name.startsWith(p.slice(7).toLowerCase()) : name === p.toLowerCase(),
    );
  const server: Server = createServer((req, res) => {
    void (async () => {
      const client = flat(req.headers);
      const checkHeaders: Record<string, string> = { "content-length": "0" };
      for (const [name, value] of Object.entries(client))
        if (name !== "content-length" && allowed(name)) checkHeaders[name] = value;
      for (const [name, value] of Object.entries(options.headersToAdd ?? {}))
        checkHeaders[name.toLowerCase()] = value;
      const path = `${options.pathPrefix}${req.url ?? "/"}`;
      checks.push({ method: req.method ?? "GET", path, headers: checkHeaders });
      let answer: Awaited<ReturnType<typeof request>> | undefined;
      try {
        answer = await request(`${options.authz}${path}`, {
          method: (req.method ?? "GET") as "GET",
          headers: checkHeaders,
          headersTimeout: options.timeoutMs ?? 200,
          bodyTimeout: options.timeoutMs ?? 200,
        });
      } catch {
        answer = undefined;
      }
      const body = answer === undefined ? "" : await answer.body.text();
      if (answer === undefined || answer.statusCode >= 500) {
        res.writeHead(403, { "content-length": "0" }).end();
        return;
      }
      const authHeaders = flat(answer.headers);
      if (answer.statusCode !== 200) {
        const out: Record<string, string> = {};
        for (const [name, value] of Object.entries(authHeaders))
          if (name !== "host" && name !== "content-length" && !HOP.has(name)) out[name] = value;
        out["content-length"] = String(Buffer.byteLength(body));
        res.writeHead(answer.statusCode, out).end(body);
        return;
      }
      const upstreamHeaders: Record<string, string> = {};
      for (const [name, value] of Object.entries(client)) if (!HOP.has(name)) upstreamHeaders[name] = value;
      for (const name of options.allowedUpstreamHeaders) {
        const v = authHeaders[name.toLowerCase()];
        if (v !== undefined) upstreamHeaders[name.toLowerCase()] = v;
      }
      const remove = (authHeaders["x-envoy-auth-headers-to-remove"] ?? "")
        .split(",")
        .map((n) => n.trim().toLowerCase())
        .filter((n) => n !== "" && n !== "host" && !n.startsWith(":"));
      for (const name of remove) delete upstreamHeaders[name];
      const hasBody =
        req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
      const up = await request(`${options.upstream}${req.url ?? "/"}`, {
        method: (req.method ?? "GET") as "GET",
        headers: upstreamHeaders,
        body: hasBody ? req : null,
      });
      const upBody = Buffer.from(await up.body.arrayBuffer());
      const out: Record<string, string> = {};
      for (const [name, value] of Object.entries(flat(up.headers)))
        if (!HOP.has(name) && name !== "content-length") out[name] = value;
      out["content-length"] = String(upBody.length);
      res.writeHead(up.statusCode, out).end(upBody);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    checks,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

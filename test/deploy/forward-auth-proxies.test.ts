/**
 * deploy/forward-auth/caddy and deploy/forward-auth/envoy: each proxy's config checked against
 * cupbearer's config next to it. The Caddyfile is adapted by the real Caddy (Debian's package,
 * which `.ci/run` installs) and its JSON read: forward_auth asks cupbearer's listen port at
 * forwardAuth.path, copies every identity header, and a client's own identity headers are deleted
 * before it. envoy.yaml cannot be validated by Envoy here (no Debian package), so its ext_authz
 * filter is read as Envoy would: path_prefix = forwardAuth.path, the cluster on the listen port,
 * the identity headers allowed upstream, failure_mode_allow off. Values are read from the files,
 * never from constants here.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import t from "tap";
import { parse } from "yaml";
import { parseConfigText } from "../../src/config/load.js";
import { STANDARD_IDENTITY_HEADERS } from "../../src/core/identity.js";
import { caddyProgram } from "../support/caddy.js";

const run = promisify(execFile);
const ROOT = new URL("../../", import.meta.url).pathname;
const configOf = async (dir: string) =>
  parseConfigText(await readFile(`${ROOT}deploy/forward-auth/${dir}/config.yaml`, "utf8"), {});

type Json = Record<string, unknown>;
/** Every object in a JSON tree, depth first. */
function* objects(node: unknown): Generator<Json> {
  if (Array.isArray(node)) for (const v of node) yield* objects(v);
  else if (node !== null && typeof node === "object") {
    yield node as Json;
    for (const v of Object.values(node)) yield* objects(v);
  }
}

t.test("deploy/forward-auth/caddy", async (t) => {
  const config = await configOf("caddy");
  t.equal(config.forwardAuth?.ingress, "traefik", "Caddy's forward_auth sends Traefik's headers");
  const caddy = caddyProgram(t);
  if (caddy === undefined) return;
  const { stdout } = await run(caddy, ["adapt", "--config", `${ROOT}deploy/forward-auth/caddy/Caddyfile`], {
    env: { PATH: process.env.PATH ?? "", HOME: "/nonexistent" },
  });
  const json = JSON.parse(stdout) as Json;
  const handlers = [...objects(json)].filter((o) => typeof o.handler === "string");
  const auth = handlers.find(
    (h) => h.handler === "reverse_proxy" && (h.rewrite as Json | undefined)?.uri !== undefined,
  );
  if (auth === undefined) throw new Error("no forward_auth in the Caddyfile");
  t.equal((auth.rewrite as Json).uri, config.forwardAuth?.path, "forward_auth asks forwardAuth.path");
  const dial = String((auth.upstreams as Json[])[0]?.dial);
  t.equal(Number(dial.split(":").at(-1)), config.listen.port, "on cupbearer's listen port");
  t.same(
    Object.keys((auth.headers as { request: { set: Json } }).request.set).sort(),
    ["X-Forwarded-Method", "X-Forwarded-Uri"],
    "Caddy writes the method and URI itself",
  );
  const copied = [...objects(auth.handle_response)]
    .filter((o) => o.handler === "headers")
    .flatMap((o) => Object.keys(((o.request as Json | undefined)?.set as Json | undefined) ?? {}));
  t.same(
    copied.map((h) => h.toLowerCase()).sort(),
    [...STANDARD_IDENTITY_HEADERS].sort(),
    "copy_headers: every identity header",
  );
  // Order matters: the client's own are deleted before forward_auth, the placeholders after.
  const order = handlers.filter(
    (h) => h === auth || h.handler === "headers" || h.handler === "reverse_proxy",
  );
  const at = order.indexOf(auth);
  const deletedBefore = order
    .slice(0, at)
    .flatMap((h) => ((h.request as Json | undefined)?.delete as string[] | undefined) ?? []);
  t.same(
    deletedBefore.map((h) => h.toLowerCase()).sort(),
    [...STANDARD_IDENTITY_HEADERS].sort(),
    "a client's identity headers are deleted first",
  );
  const app = order.slice(at + 1).find((h) => h.handler === "reverse_proxy" && h.rewrite === undefined);
  t.ok(app, "then the app is proxied to");
});

t.test("deploy/forward-auth/envoy", async (t) => {
  const config = await configOf("envoy");
  t.equal(config.forwardAuth?.ingress, "envoy");
  const envoy = parse(await readFile(`${ROOT}deploy/forward-auth/envoy/envoy.yaml`, "utf8")) as Json;
  const all = [...objects(envoy)];
  const filter = all.find((o) => o.name === "envoy.filters.http.ext_authz");
  const authz = filter?.typed_config as Json | undefined;
  if (authz === undefined) throw new Error("no ext_authz filter");
  t.equal(
    authz["@type"],
    "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
    "the v3 ext_authz filter",
  );
  t.equal(authz.failure_mode_allow, false, "an error is a 403, never a pass");
  const http = authz.http_service as Json;
  t.notOk(authz.grpc_service, "the HTTP service, not gRPC");
  t.equal(http.path_prefix, config.forwardAuth?.path, "path_prefix is forwardAuth.path");
  t.notOk(http.path_override, "no path_override: it would lose the original path");
  const server = http.server_uri as Json;
  const cluster = all.find((o) => o.cluster_name === server.cluster && o.endpoints !== undefined);
  const port = [...objects(cluster)].find((o) => o.port_value !== undefined)?.port_value;
  t.equal(port, config.listen.port, "the cluster is cupbearer's listen port");
  t.equal(new URL(String(server.uri)).port, String(config.listen.port), "and so is server_uri");
  const upstream = (
    ((http.authorization_response as Json).allowed_upstream_headers as Json).patterns as Json[]
  ).map((p) => String(p.exact));
  t.same(upstream.sort(), [...STANDARD_IDENTITY_HEADERS].sort(), "the identity headers reach the app");
  const manager = all.find((o) => o.stat_prefix === "ingress_http") as Json;
  t.equal(
    (manager.common_http_protocol_options as Json).headers_with_underscores_action,
    "REJECT_REQUEST",
    "no X_Auth_Request_User spelling reaches the app",
  );
  const filters = (manager.http_filters as Json[]).map((f) => f.name);
  t.same(filters.at(-1), "envoy.filters.http.router", "the router runs last, after ext_authz");
  t.ok(filters.indexOf("envoy.filters.http.ext_authz") < filters.length - 1);
});

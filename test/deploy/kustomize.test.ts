/**
 * deploy/: renders the Kustomize base and every overlay with `kubectl kustomize`, validates each
 * rendered object against the Kubernetes API schemas of the `kubernetes-models` package (the
 * Prometheus Operator PodMonitor, a CRD it does not know, by a hand-written structural check),
 * then checks what makes the deployment safe: probes on the admin listener's real paths and
 * port, a Service and a NetworkPolicy that never reach the app's port, the native-sidecar
 * layout, a restrictive security context on every container, no credentials in the pod, and a
 * config that `cupbearer check` accepts. Ports and timeouts are read from the rendered config,
 * never from constants here.
 *
 * Needs kubectl (it has Kustomize built in): without it the test skips loudly, except under
 * CI=true, where that fails. Needs dist/ (`npm test` builds it first).
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Deployment, type IDeployment } from "kubernetes-models/apps/v1/Deployment";
import { type INetworkPolicy, NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import {
  type IPodDisruptionBudget,
  PodDisruptionBudget,
} from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap, type IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { IProbe } from "kubernetes-models/v1/Probe";
import { type IService, Service } from "kubernetes-models/v1/Service";
import { type IServiceAccount, ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import t, { type Test } from "tap";
import { parseAllDocuments } from "yaml";
import { parseConfigText } from "../../src/config/load.js";
import type { Config } from "../../src/config/types.js";
import { runMain } from "../support/cli.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "dist/src/cli.js");
const KUBECTL = process.env.KUBECTL ?? "kubectl";

/** The image the docs build and push, tagged with the package's version (kept in step). */
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const IMAGE = `registry.example.com/cupbearer:${VERSION}`;
const SIDECAR = "cupbearer";
const UID = 65532;

interface Variant {
  /** A kustomization directory, or FIXTURE: the sidecar component on an existing app's Deployment. */
  dir: string;
  /** native: an init container with restartPolicy Always; classic: a regular container. */
  sidecar: "native" | "classic";
  podMonitor: boolean;
  /**
   * The environment the pod gives cupbearer from the shared store's Secret (shared-store
   * overlay): exactly these variables, with made-up values for the config checks.
   */
  storeEnv?: Record<string, string>;
}

/** The shared-store overlay's Secret and the variables it sets (values made up here). */
const STORE_SECRET = "cupbearer-store";
const STORE_ENV = {
  REDIS_URL: "redis://:made-up-password@valkey:6379",
  STORE_KEY: "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
};

const VARIANTS: Variant[] = [
  { dir: "deploy/base", sidecar: "native", podMonitor: false },
  { dir: "deploy/overlays/classic-sidecar", sidecar: "classic", podMonitor: false },
  { dir: "deploy/overlays/podmonitor", sidecar: "native", podMonitor: true },
  { dir: "deploy/overlays/shared-store", sidecar: "native", podMonitor: false, storeEnv: STORE_ENV },
  {
    dir: "deploy/components/sidecar on test/fixtures/deploy/existing-app",
    sidecar: "native",
    podMonitor: false,
  },
];
const FIXTURE = VARIANTS.find((v) => v.dir.includes(" on "))?.dir;

type K8sObject = { apiVersion?: string; kind?: string; metadata?: { name?: string } } & Record<
  string,
  unknown
>;

/** kubernetes-models classes by apiVersion/kind: every kind the manifests may render, PodMonitor aside. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "apps/v1/Deployment": Deployment,
  "v1/Service": Service,
  "v1/ServiceAccount": ServiceAccount,
  "v1/ConfigMap": ConfigMap,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
};
const PODMONITOR = "monitoring.coreos.com/v1/PodMonitor";
const keyOf = (o: K8sObject) => `${o.apiVersion}/${o.kind}`;
const nameOf = (o: K8sObject) => `${o.kind}/${o.metadata?.name}`;

/** Schema problems of one object: kubernetes-models for built-in kinds, the hand check for PodMonitor. */
function schemaProblems(o: K8sObject): string[] {
  const key = keyOf(o);
  if (key === PODMONITOR) return podMonitorProblems(o);
  const Model = MODELS[key];
  if (Model === undefined) return [`no schema known for ${key}; add its kubernetes-models class to MODELS`];
  try {
    new Model(o as never).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

// ---------------------------------------------------------------------------------------------
// PodMonitor: kubernetes-models has no Prometheus Operator CRDs, and the project takes one
// devDependency for this test, so the PodMonitor is checked by hand against the CRD's structure
// (monitoring.coreos.com/v1 PodMonitor): known keys only at the levels we use, types, enums and
// the duration pattern the CRD declares.

const PM_SPEC_KEYS = new Set([
  "attachMetadata",
  "bodySizeLimit",
  "jobLabel",
  "keepDroppedTargets",
  "labelLimit",
  "labelNameLengthLimit",
  "labelValueLengthLimit",
  "namespaceSelector",
  "podMetricsEndpoints",
  "podTargetLabels",
  "sampleLimit",
  "scrapeClass",
  "scrapeProtocols",
  "selector",
  "targetLimit",
]);
const PM_ENDPOINT_KEYS = new Set([
  "authorization",
  "basicAuth",
  "bearerTokenSecret",
  "enableHttp2",
  "filterRunning",
  "followRedirects",
  "honorLabels",
  "honorTimestamps",
  "interval",
  "metricRelabelings",
  "oauth2",
  "params",
  "path",
  "port",
  "portNumber",
  "proxyUrl",
  "relabelings",
  "scheme",
  "scrapeTimeout",
  "tlsConfig",
  "trackTimestampsStaleness",
]);
/** The CRD's pattern for Prometheus durations (`interval`, `scrapeTimeout`). */
const DURATION =
  /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function durationMs(d: string): number {
  const units: Record<string, number> = { y: 31536e6, w: 6048e5, d: 864e5, h: 36e5, m: 6e4, s: 1e3, ms: 1 };
  let total = 0;
  for (const [, n, unit] of d.matchAll(/(\d+)(ms|y|w|d|h|m|s)/g))
    total += Number(n) * (units[unit ?? ""] ?? 0);
  return total;
}

function labelSelectorProblems(sel: unknown, at: string): string[] {
  if (!isRecord(sel)) return [`${at}: expected an object`];
  const out: string[] = [];
  for (const k of Object.keys(sel)) {
    if (k !== "matchLabels" && k !== "matchExpressions") out.push(`${at}.${k}: unknown key`);
  }
  if (sel.matchLabels !== undefined) {
    if (!isRecord(sel.matchLabels)) out.push(`${at}.matchLabels: expected an object`);
    else
      for (const [k, v] of Object.entries(sel.matchLabels)) {
        if (typeof v !== "string") out.push(`${at}.matchLabels.${k}: expected a string`);
      }
  }
  if (sel.matchExpressions !== undefined) {
    if (!Array.isArray(sel.matchExpressions)) out.push(`${at}.matchExpressions: expected a list`);
    else
      sel.matchExpressions.forEach((e: unknown, i) => {
        const p = `${at}.matchExpressions[${i}]`;
        if (!isRecord(e) || typeof e.key !== "string") out.push(`${p}.key: required string`);
        else if (!["In", "NotIn", "Exists", "DoesNotExist"].includes(String(e.operator)))
          out.push(`${p}.operator: expected In, NotIn, Exists or DoesNotExist`);
      });
  }
  return out;
}

function podMonitorProblems(o: K8sObject): string[] {
  const out: string[] = [];
  const name = o.metadata?.name;
  if (typeof name !== "string" || name.length > 253 || !DNS1123_SUBDOMAIN.test(name))
    out.push("metadata.name: expected a DNS-1123 subdomain");
  for (const k of Object.keys(o)) {
    if (!["apiVersion", "kind", "metadata", "spec"].includes(k)) out.push(`${k}: unknown key`);
  }
  const spec = o.spec;
  if (!isRecord(spec)) return [...out, "spec: required object"];
  for (const k of Object.keys(spec)) if (!PM_SPEC_KEYS.has(k)) out.push(`spec.${k}: unknown key`);
  if (spec.selector === undefined) out.push("spec.selector: required");
  else out.push(...labelSelectorProblems(spec.selector, "spec.selector"));
  const ns = spec.namespaceSelector;
  if (ns !== undefined) {
    if (!isRecord(ns)) out.push("spec.namespaceSelector: expected an object");
    else {
      if (ns.any !== undefined && typeof ns.any !== "boolean")
        out.push("spec.namespaceSelector.any: boolean");
      if (ns.matchNames !== undefined && !(Array.isArray(ns.matchNames) && ns.matchNames.every(isString)))
        out.push("spec.namespaceSelector.matchNames: expected a list of strings");
    }
  }
  const eps = spec.podMetricsEndpoints;
  if (!Array.isArray(eps) || eps.length === 0)
    return [...out, "spec.podMetricsEndpoints: expected a non-empty list"];
  eps.forEach((ep: unknown, i) => {
    const at = `spec.podMetricsEndpoints[${i}]`;
    if (!isRecord(ep)) {
      out.push(`${at}: expected an object`);
      return;
    }
    for (const k of Object.keys(ep)) if (!PM_ENDPOINT_KEYS.has(k)) out.push(`${at}.${k}: unknown key`);
    if (ep.port !== undefined && !(typeof ep.port === "string" && DNS1123_LABEL.test(ep.port)))
      out.push(`${at}.port: expected a container port name`);
    if (
      ep.portNumber !== undefined &&
      !(Number.isInteger(ep.portNumber) && inPortRange(ep.portNumber as number))
    )
      out.push(`${at}.portNumber: expected an integer from 1 to 65535`);
    if (ep.port === undefined && ep.portNumber === undefined) out.push(`${at}: expected port or portNumber`);
    if (ep.path !== undefined && !(typeof ep.path === "string" && ep.path.startsWith("/")))
      out.push(`${at}.path: expected a path starting with /`);
    if (ep.scheme !== undefined && !["http", "https", "HTTP", "HTTPS"].includes(String(ep.scheme)))
      out.push(`${at}.scheme: expected http or https`);
    for (const k of ["interval", "scrapeTimeout"] as const) {
      const v = ep[k];
      if (v !== undefined && !(typeof v === "string" && v !== "" && DURATION.test(v)))
        out.push(`${at}.${k}: expected a Prometheus duration such as 30s`);
    }
    if (
      typeof ep.interval === "string" &&
      typeof ep.scrapeTimeout === "string" &&
      DURATION.test(ep.interval) &&
      DURATION.test(ep.scrapeTimeout) &&
      durationMs(ep.scrapeTimeout) > durationMs(ep.interval)
    )
      out.push(`${at}.scrapeTimeout: must not exceed interval`);
  });
  return out;
}

const isString = (v: unknown): v is string => typeof v === "string";
const inPortRange = (n: number) => n >= 1 && n <= 65535;

// ---------------------------------------------------------------------------------------------
// Rendering and helpers

/**
 * The existing-app fixture beside a copy of the sidecar component whose Deployment name is
 * changed from my-app to orders, as deploy/README.md tells a user to do: the directory to render.
 */
async function fixtureDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-component-"));
  await cp(join(ROOT, "test/fixtures/deploy/existing-app"), join(dir, "app"), { recursive: true });
  await cp(join(ROOT, "deploy/components/sidecar"), join(dir, "sidecar"), { recursive: true });
  const file = join(dir, "sidecar/kustomization.yaml");
  const text = await readFile(file, "utf8");
  const renamed = text.replace(/name: my-app\b/g, "name: orders");
  if (renamed.match(/name: orders/g)?.length !== 3)
    throw new Error("the component names its Deployment 3 times");
  await writeFile(file, renamed);
  return join(dir, "app");
}

async function render(dir: string): Promise<K8sObject[]> {
  const where = dir === FIXTURE ? await fixtureDir() : dir;
  const { stdout } = await run(KUBECTL, ["kustomize", where], { cwd: ROOT, maxBuffer: 16 << 20 });
  if (where !== dir) await rm(join(where, ".."), { recursive: true, force: true });
  const docs = parseAllDocuments(stdout);
  const out: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0)
      throw new Error(`${dir}: kubectl kustomize printed invalid YAML: ${doc.errors[0]}`);
    const js: unknown = doc.toJS();
    if (js !== null && js !== undefined) out.push(js as K8sObject);
  }
  return out;
}

/** The one object of a kind; fails the test (and throws) otherwise. */
function only<T>(t: Test, objs: K8sObject[], kind: string): T {
  const found = objs.filter((o) => o.kind === kind);
  t.equal(found.length, 1, `exactly one ${kind}`);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0] as T;
}

/** A container port by number or name, resolved against the container's own declared ports. */
function resolvePort(c: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === "number") return port;
  if (typeof port === "string") {
    const named = c.ports?.find((p) => p.name === port)?.containerPort;
    return named ?? (/^\d+$/.test(port) ? Number(port) : undefined);
  }
  return undefined;
}

function probePort(c: IContainer, p: IProbe | undefined): number | undefined {
  return resolvePort(c, p?.httpGet?.port ?? p?.tcpSocket?.port ?? p?.grpc?.port);
}

/** `selector` (matchLabels only) selects pods labelled `labels`. */
function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/**
 * Seconds a preStop hook delays the container's SIGTERM: the sleep action, exec `sleep N`, or
 * exec `node -e "setTimeout(() => {}, MS)"` (the cupbearer image is distroless: no `sleep`).
 */
function preStopSeconds(c: IContainer): number {
  const hook = c.lifecycle?.preStop;
  if (hook?.sleep !== undefined) return hook.sleep.seconds;
  const cmd = hook?.exec?.command ?? [];
  if (cmd[0] === "sleep" && cmd.length === 2) return Number(cmd[1]);
  const timer = /^setTimeout\(\(\) => \{\}, (\d+)\)$/.exec(cmd[2] ?? "");
  if (cmd[0]?.endsWith("/node") && cmd[1] === "-e" && timer) return Number(timer[1]) / 1000;
  return 0;
}

interface CheckResult {
  code: number;
  stdout: string;
  stderr: string;
}
const checks = new Map<string, Promise<CheckResult>>();

/**
 * `node dist/src/cli.js check --config FILE` on `text` written to a temp file. Memoized by
 * text: the variants share one config, and each run of the CLI costs about a second.
 */
function cupbearerCheck(text: string, env: Record<string, string> = {}): Promise<CheckResult> {
  let res = checks.get(text);
  if (res === undefined) {
    res = (async () => {
      const dir = await mkdtemp(join(tmpdir(), "cupbearer-deploy-"));
      try {
        const file = join(dir, "config.yaml");
        await writeFile(file, text);
        return await run(process.execPath, [CLI, "check", "--config", file], {
          env: { ...process.env, ...env },
        }).then(
          (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
          (err: { code?: number; stdout?: string; stderr?: string }) => ({
            code: typeof err.code === "number" ? err.code : -1,
            stdout: err.stdout ?? "",
            stderr: err.stderr ?? "",
          }),
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    })();
    checks.set(text, res);
  }
  return res;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "[::1]", "localhost"]);

// ---------------------------------------------------------------------------------------------
// Checks of one rendered variant

async function checkVariant(t: Test, v: Variant): Promise<void> {
  const objs = await render(v.dir);

  t.test("every rendered object passes its API schema", async (t) => {
    t.ok(objs.length > 0, "kustomize rendered objects");
    for (const o of objs) t.same(schemaProblems(o), [], `${nameOf(o)} (${keyOf(o)}) is valid`);
    const podMonitors = objs.filter((o) => keyOf(o) === PODMONITOR);
    t.equal(podMonitors.length, v.podMonitor ? 1 : 0, v.podMonitor ? "one PodMonitor" : "no PodMonitor");
  });

  const cm = only<IConfigMap>(t, objs, "ConfigMap");
  const pdb = only<IPodDisruptionBudget>(t, objs, "PodDisruptionBudget");
  // The Deployment the component targets; any other must be left as it was.
  const hasSidecar = (d: IDeployment) =>
    [...(d.spec?.template.spec?.initContainers ?? []), ...(d.spec?.template.spec?.containers ?? [])].some(
      (c) => c.name === SIDECAR,
    );
  const deployments = objs.filter((o) => o.kind === "Deployment") as unknown as IDeployment[];
  const targeted = deployments.filter(hasSidecar);
  t.equal(targeted.length, 1, "exactly one Deployment has the sidecar");
  const dep = targeted[0] as IDeployment;
  for (const other of deployments.filter((d) => d !== dep)) {
    t.same(other.spec?.template.spec?.volumes ?? [], [], `${other.metadata?.name}: left as it was`);
  }
  const svc = only<IService>(t, objs, "Service");
  const np = only<INetworkPolicy>(t, objs, "NetworkPolicy");
  const sa = only<IServiceAccount>(t, objs, "ServiceAccount");

  const configText = cm.data?.["config.yaml"];
  if (configText === undefined) throw new Error("the ConfigMap has no config.yaml key");
  // Effective values (defaults applied) through cupbearer's own loader, with no environment:
  // the pod sets no variable the config could depend on, but the shared store's from its Secret.
  const config: Config = parseConfigText(configText, v.storeEnv ?? {});
  const pod = dep.spec?.template.spec as IPodSpec;
  const podLabels = (dep.spec?.template.metadata?.labels ?? {}) as Record<string, string>;
  const inits = pod.initContainers ?? [];
  const regular = pod.containers;
  const all = [...inits, ...regular];
  const sidecars = all.filter((c) => c.name === SIDECAR);
  t.equal(sidecars.length, 1, "one cupbearer container");
  const cb = sidecars[0] as IContainer;
  const apps = regular.filter((c) => c.name !== SIDECAR);
  t.equal(apps.length, 1, "one application container");
  const app = apps[0] as IContainer;
  const env = (c: IContainer, name: string) => c.env?.find((e) => e.name === name)?.value;
  const appHost = env(app, "HOST");
  const appPort = Number(env(app, "PORT"));

  t.test("the config passes `cupbearer check`", async (t) => {
    if (!existsSync(CLI)) {
      t.fail(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
      return;
    }
    const res = await cupbearerCheck(configText, v.storeEnv);
    t.equal(res.code, 0, `exit code 0 (stderr: ${res.stderr.trim()})`);
    t.match(res.stdout, /: OK \(/, "reports OK");
  });

  t.test("the app listens on loopback only, and cupbearer forwards to it there", async (t) => {
    t.ok(appHost !== undefined && LOOPBACK.has(appHost), `app HOST is loopback (${appHost})`);
    t.ok(Number.isInteger(appPort) && inPortRange(appPort), `app PORT is a port (${appPort})`);
    for (const r of config.routes) {
      const u = new URL(r.upstream.url);
      t.ok(LOOPBACK.has(u.hostname), `route ${r.id} upstream is on loopback (${u.hostname})`);
      t.equal(
        Number(u.port || (u.protocol === "https:" ? 443 : 80)),
        appPort,
        `route ${r.id} upstream is the app's port`,
      );
    }
    t.same(app.ports ?? [], [], "the app declares no container port");
    t.notOk(
      all.some((c) => c.ports?.some((p) => p.containerPort === appPort)),
      "no container exposes the app's port",
    );
    t.not(config.listen.port, appPort, "listen.port is not the app's port");
    t.not(config.admin.port, appPort, "admin.port is not the app's port");
    t.notOk(pod.hostNetwork, "no host network (loopback would be the node's)");
  });

  t.test("cupbearer: image, config mount, ports", async (t) => {
    t.equal(cb.image, IMAGE);
    const vol = pod.volumes?.find((vv) => vv.configMap?.name === cm.metadata?.name);
    t.ok(vol, "a volume holds the rendered ConfigMap (hash suffix included)");
    const mount = cb.volumeMounts?.find((m) => m.name === vol?.name);
    t.ok(mount?.readOnly, "mounted read-only");
    const configPath = `${mount?.mountPath}/config.yaml`;
    t.equal(
      env(cb, "CUPBEARER_CONFIG") ?? "/etc/cupbearer/config.yaml",
      configPath,
      "CUPBEARER_CONFIG is the mounted file",
    );
    t.equal(configPath, "/etc/cupbearer/config.yaml", "the image's default path");
    const declared = (cb.ports ?? []).map((p) => p.containerPort);
    t.ok(declared.includes(config.listen.port), `declares listen.port ${config.listen.port}`);
    t.ok(declared.includes(config.admin.port), `declares admin.port ${config.admin.port}`);
    t.notOk(LOOPBACK.has(config.listen.host), "listen.host is reachable from outside the pod");
    t.notOk(LOOPBACK.has(config.admin.host), "admin.host is reachable by the kubelet's probes");
  });

  t.test("probes hit the admin listener's /healthz and /readyz", async (t) => {
    const admin = config.admin.port;
    t.equal(cb.livenessProbe?.httpGet?.path, "/healthz", "liveness path");
    t.equal(probePort(cb, cb.livenessProbe), admin, `liveness port is admin.port ${admin}`);
    t.equal(cb.readinessProbe?.httpGet?.path, "/readyz", "readiness path");
    t.equal(probePort(cb, cb.readinessProbe), admin, `readiness port is admin.port ${admin}`);
    if (cb.startupProbe !== undefined) {
      t.match(cb.startupProbe.httpGet?.path, /^\/(healthz|readyz)$/, "startup path");
      t.equal(probePort(cb, cb.startupProbe), admin, "startup port is admin.port");
    }
    for (const p of [cb.livenessProbe, cb.readinessProbe, cb.startupProbe]) {
      if (p?.httpGet !== undefined)
        t.not(p.httpGet.scheme, "HTTPS", "plain HTTP, as the admin listener speaks");
    }
    // The kubelet probes the pod IP, where the app does not listen: the app's probes must go
    // through cupbearer's proxy port.
    for (const [kind, p] of [
      ["liveness", app.livenessProbe],
      ["readiness", app.readinessProbe],
      ["startup", app.startupProbe],
    ] as const) {
      if (p === undefined || p.exec !== undefined) continue;
      t.equal(
        resolvePort(cb, p.httpGet?.port ?? p.tcpSocket?.port ?? p.grpc?.port),
        config.listen.port,
        `app ${kind} probe goes through the proxy port`,
      );
    }
  });

  t.test("the Service targets the proxy port only", async (t) => {
    t.ok(selects(svc.spec?.selector, podLabels), "selects the Deployment's pods");
    t.ok((svc.spec?.ports ?? []).length > 0, "has ports");
    for (const p of svc.spec?.ports ?? []) {
      // A number: before Kubernetes 1.32 a Service cannot resolve a port name declared on a
      // native sidecar (kubernetes/kubernetes#127958).
      t.type(p.targetPort, "number", `port ${p.name}: targetPort is a number`);
      const target = Number(p.targetPort ?? p.port);
      t.equal(target, config.listen.port, `port ${p.name}: targets listen.port ${config.listen.port}`);
      t.not(target, appPort, "never the app's port");
      t.not(target, config.admin.port, "never the admin port");
    }
  });

  t.test("the NetworkPolicy admits the proxy and metrics ports, never the app's", async (t) => {
    const sel = np.spec?.podSelector;
    t.ok(selects(sel?.matchLabels, podLabels), "selects the Deployment's pods");
    t.notOk(sel?.matchExpressions?.length, "by labels only");
    t.ok(np.spec?.policyTypes?.includes("Ingress"), "policyTypes has Ingress");
    const rules = np.spec?.ingress ?? [];
    let proxyAdmitted = false;
    let adminAdmitted = false;
    rules.forEach((rule, i) => {
      // A rule without ports (or a port entry without `port`) admits every port, the app's too.
      t.ok((rule.ports ?? []).length > 0, `rule ${i} names its ports`);
      for (const p of rule.ports ?? []) {
        // Numbers: some implementations ignore port names declared on init containers
        // (projectcalico/calico#8881).
        t.type(p.port, "number", `rule ${i}: port ${p.port} is a number`);
        const lo = Number(p.port);
        const hi = p.endPort ?? lo;
        t.notOk(lo <= appPort && appPort <= hi, `rule ${i}: ${lo}-${hi} excludes the app's port ${appPort}`);
        t.ok(
          [config.listen.port, config.admin.port].includes(lo) && hi === lo,
          `rule ${i}: port ${lo} is cupbearer's`,
        );
        if (lo === config.listen.port) proxyAdmitted = true;
        if (lo === config.admin.port) {
          adminAdmitted = true;
          t.ok((rule.from ?? []).length > 0, `rule ${i}: the admin port is open to named sources only`);
        }
      }
    });
    t.ok(proxyAdmitted, `admits the proxy port ${config.listen.port}`);
    t.ok(adminAdmitted, `admits metrics scrapes on the admin port ${config.admin.port}`);
  });

  t.test(`cupbearer runs as a ${v.sidecar} sidecar`, async (t) => {
    if (v.sidecar === "native") {
      t.equal(inits[0]?.name, SIDECAR, "the first init container, so it runs before the others");
      t.equal(cb.restartPolicy, "Always", "restartPolicy Always (native sidecar, Kubernetes 1.29+)");
      t.notOk(
        regular.some((c) => c.name === SIDECAR),
        "not among the regular containers",
      );
      t.ok(cb.startupProbe, "a startupProbe, so the app starts once cupbearer listens");
    } else {
      t.ok(
        regular.some((c) => c.name === SIDECAR),
        "a regular container",
      );
      t.notOk(
        inits.some((c) => c.name === SIDECAR),
        "not an init container",
      );
      t.equal(cb.restartPolicy, undefined, "no container restartPolicy (refused before Kubernetes 1.28)");
      t.notOk(
        inits.some((c) => c.restartPolicy !== undefined),
        "no init container uses restartPolicy",
      );
    }
  });

  t.test("every container has the restrictive security context and resources", async (t) => {
    t.ok(all.length >= 2, "app and cupbearer");
    for (const c of all) {
      const sc = c.securityContext;
      t.equal(sc?.runAsNonRoot, true, `${c.name}: runAsNonRoot`);
      t.equal(sc?.runAsUser, UID, `${c.name}: runAsUser ${UID}`);
      t.equal(sc?.readOnlyRootFilesystem, true, `${c.name}: readOnlyRootFilesystem`);
      t.equal(sc?.allowPrivilegeEscalation, false, `${c.name}: allowPrivilegeEscalation false`);
      t.not(sc?.privileged, true, `${c.name}: not privileged`);
      t.ok(sc?.capabilities?.drop?.includes("ALL"), `${c.name}: drops ALL capabilities`);
      t.same(sc?.capabilities?.add ?? [], [], `${c.name}: adds none`);
      t.equal(sc?.seccompProfile?.type, "RuntimeDefault", `${c.name}: seccomp RuntimeDefault`);
      for (const k of ["cpu", "memory"]) {
        t.ok(c.resources?.requests?.[k], `${c.name}: requests ${k}`);
        t.ok(c.resources?.limits?.[k], `${c.name}: limits ${k}`);
      }
    }
    t.equal(pod.securityContext?.runAsNonRoot, true, "pod: runAsNonRoot");
    t.equal(pod.securityContext?.seccompProfile?.type, "RuntimeDefault", "pod: seccomp RuntimeDefault");
    t.notOk(pod.hostPID || pod.hostIPC || pod.hostNetwork, "pod: no host namespaces");
  });

  t.test("no credentials in the pod", async (t) => {
    t.equal(pod.automountServiceAccountToken, false, "pod: automountServiceAccountToken false");
    t.equal(pod.serviceAccountName, sa.metadata?.name, "runs as the rendered ServiceAccount");
    t.equal(sa.automountServiceAccountToken, false, "ServiceAccount: automountServiceAccountToken false");
    const annotations = Object.keys(sa.metadata?.annotations ?? {});
    t.notOk(
      annotations.some((a) => a.startsWith("eks.amazonaws.com/")),
      "ServiceAccount: no IRSA role",
    );
    t.notOk(
      objs.some((o) => o.kind === "Secret"),
      "no Secret",
    );
    for (const c of all) {
      t.same(
        (c.env ?? []).filter((e) => e.name.startsWith("AWS_")).map((e) => e.name),
        [],
        `${c.name}: no AWS_* variables`,
      );
      t.same(c.envFrom ?? [], [], `${c.name}: no envFrom`);
      const fromSecrets = (c.env ?? []).filter((e) => e.valueFrom?.secretKeyRef);
      if (v.storeEnv === undefined || c !== cb) {
        t.same(fromSecrets, [], `${c.name}: no variable from a Secret`);
        continue;
      }
      // The shared-store overlay: the store's URL and keys, from its own Secret, to cupbearer only.
      t.same(
        fromSecrets.map((e) => e.valueFrom?.secretKeyRef?.name),
        fromSecrets.map(() => STORE_SECRET),
        `${c.name}: variables from the ${STORE_SECRET} Secret only`,
      );
      for (const name of Object.keys(v.storeEnv)) {
        t.ok(
          fromSecrets.some((e) => e.name === name && e.valueFrom?.secretKeyRef?.optional !== true),
          `${c.name}: ${name} from the Secret`,
        );
      }
      const named = [...configText.matchAll(/\$\{([A-Z_]+)(:-[^}]*)?\}/g)];
      for (const [, name, fallback] of named) {
        t.ok(
          fallback !== undefined || fromSecrets.some((e) => e.name === name),
          `the config's \${${name}} is set by the pod`,
        );
      }
      t.ok(config.store !== undefined, "the config has a store");
      t.notOk(configText.includes("made-up"), "no secret value in the ConfigMap");
    }
    t.notOk(
      (pod.volumes ?? []).some((vol) => vol.secret || vol.projected),
      "no secret or projected (token) volume",
    );
  });

  t.test("the grace period outlasts the shutdown", async (t) => {
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    const drain = config.shutdown.drainTimeoutMs;
    t.ok(grace * 1000 > drain, `terminationGracePeriodSeconds ${grace} s > drainTimeoutMs ${drain} ms`);
    // Native: cupbearer's SIGTERM comes only after the app's preStop delay and exit. Classic:
    // both get theirs after their own preStop delays, at the same time.
    const before = v.sidecar === "native" ? preStopSeconds(app) : preStopSeconds(cb);
    t.ok(
      grace * 1000 > before * 1000 + drain,
      `${grace} s > preStop ${before} s + cupbearer drain ${drain / 1000} s`,
    );
    if (v.sidecar === "classic") {
      t.ok(
        preStopSeconds(cb) >= preStopSeconds(app),
        `cupbearer keeps accepting (preStop ${preStopSeconds(cb)} s) while the app does (${preStopSeconds(app)} s)`,
      );
    } else {
      t.equal(
        cb.lifecycle?.preStop,
        undefined,
        "a native sidecar needs no preStop delay: it stops after the app",
      );
    }
  });

  t.test("the component's objects are named after the Deployment and select its pods", async (t) => {
    const name = dep.metadata?.name ?? "";
    t.equal(np.metadata?.name, `${name}-cupbearer`, "NetworkPolicy name");
    t.equal(pdb.metadata?.name, `${name}-cupbearer`, "PodDisruptionBudget name");
    t.same(
      pdb.spec?.selector?.matchLabels,
      dep.spec?.selector.matchLabels,
      "the PDB uses the Deployment's selector",
    );
    t.ok(selects(pdb.spec?.selector?.matchLabels, podLabels), "and so selects its pods");
    t.equal(pdb.spec?.maxUnavailable, 1, "one pod at a time");
    t.ok((dep.spec?.replicas ?? 1) > 1, "more replicas than the PDB lets go, so drains can proceed");
  });

  if (v.podMonitor) {
    t.test("the PodMonitor scrapes /metrics on the admin port", async (t) => {
      const pm = objs.find((o) => keyOf(o) === PODMONITOR) as {
        spec: {
          selector: { matchLabels?: Record<string, string> };
          podMetricsEndpoints: Record<string, unknown>[];
        };
      };
      t.ok(selects(pm.spec.selector.matchLabels, podLabels), "selects the Deployment's pods");
      t.equal(pm.spec.podMetricsEndpoints.length, 1, "one endpoint");
      const ep = pm.spec.podMetricsEndpoints[0] ?? {};
      t.equal(ep.path ?? "/metrics", "/metrics", "path /metrics");
      const port = resolvePort(cb, (ep.port ?? ep.portNumber) as string | number | undefined);
      t.equal(port, config.admin.port, `port resolves to admin.port ${config.admin.port} on cupbearer`);
    });
  }
}

// ---------------------------------------------------------------------------------------------

async function kubectlVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await run(KUBECTL, ["version", "--client"]);
    return stdout.trim().split("\n").join("; ");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

t.test("every overlay is covered", async (t) => {
  const overlays = readdirSync(join(ROOT, "deploy/overlays"), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => `deploy/overlays/${d.name}`)
    .sort();
  t.same(
    overlays,
    VARIANTS.map((v) => v.dir)
      .filter((d) => d.startsWith("deploy/overlays/"))
      .sort(),
  );
});

t.test("the schema checks reject broken objects", async (t) => {
  const broken = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "x" },
    spec: {
      selector: {},
      template: {
        spec: { containers: [{ name: "a", ports: [{ containerPort: "8080" }], restartPolicy: "Sometimes" }] },
      },
    },
  };
  t.not(
    schemaProblems(broken).length,
    0,
    "kubernetes-models rejects a string port and an unknown restartPolicy",
  );
  const pm = {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PodMonitor",
    metadata: { name: "x" },
    spec: {
      selector: { matchLabel: { a: "b" } },
      podMetricsEndpoints: [{ port: 9090, interval: "30 seconds", scrapeTimeout: "1m", pth: "/metrics" }],
    },
  };
  t.same(podMonitorProblems(pm), [
    "spec.selector.matchLabel: unknown key",
    "spec.podMetricsEndpoints[0].pth: unknown key",
    "spec.podMetricsEndpoints[0].port: expected a container port name",
    "spec.podMetricsEndpoints[0].interval: expected a Prometheus duration such as 30s",
  ]);
  t.same(
    podMonitorProblems({
      ...pm,
      spec: { selector: {}, podMetricsEndpoints: [{ port: "a", interval: "30s", scrapeTimeout: "1m" }] },
    }),
    ["spec.podMetricsEndpoints[0].scrapeTimeout: must not exceed interval"],
  );
});

t.test("the `cupbearer check` harness sees a refused config", async (t) => {
  if (!existsSync(CLI)) {
    t.fail(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    return;
  }
  const res = await cupbearerCheck(
    "listen: { port: 8080 }\nadmin: { host: 0.0.0.0, port: 8080 }\nroutes: []\n",
  );
  t.equal(res.code, 2, "exit code 2");
  t.match(res.stderr, /admin\.port: must differ from listen\.port/);
});

/**
 * `cupbearer check --manifests` on what kustomize renders: the base agrees with its config; the
 * base with config/aws.yaml swapped in (the pods that never become ready) is named.
 */
async function checkManifestsCli(t: Test): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-manifests-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const rendered = join(dir, "rendered.yaml");
  const { stdout } = await run(KUBECTL, ["kustomize", "deploy/base"], { cwd: ROOT, maxBuffer: 16 << 20 });
  await writeFile(rendered, stdout);
  const config = join(ROOT, "deploy/components/sidecar/config.yaml");
  const ok = await runMain(t, ["check", "--config", config, "--manifests", rendered]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, `${rendered}: matches ${config}`);

  // A kustomization of the user's own: the base with another documented config in the ConfigMap.
  const swapped = join(dir, "swapped");
  await cp(join(ROOT, "config/aws.yaml"), join(swapped, "config.yaml"));
  await writeFile(
    join(swapped, "kustomization.yaml"),
    `resources: [${relative(swapped, join(ROOT, "deploy/base"))}]\nconfigMapGenerator:\n  - name: cupbearer-config\n    behavior: replace\n    files: [config.yaml]\n`,
  );
  const out = await run(KUBECTL, ["kustomize", swapped], { maxBuffer: 16 << 20 });
  await writeFile(join(dir, "swapped.yaml"), out.stdout);
  const bad = await runMain(t, [
    "check",
    "--config",
    join(swapped, "config.yaml"),
    "--manifests",
    join(dir, "swapped.yaml"),
  ]);
  t.equal(bad.code, 2, "mismatches: exit 2");
  t.match(bad.stderr, "3 mismatches");
  t.match(bad.stderr, "readinessProbe probes port 9090 from the node, but admin.host is 127.0.0.1");

  const unrendered = await runMain(t, [
    "check",
    "--config",
    config,
    "--manifests",
    join(ROOT, "deploy/base"),
  ]);
  t.equal(unrendered.code, 2);
  t.match(unrendered.stderr, "holds a kustomization, not rendered manifests");
  const missing = await runMain(t, ["check", "--config", config, "--manifests", join(dir, "nope.yaml")]);
  t.match(missing.stderr, "cannot read");
  await writeFile(join(dir, "broken.yaml"), "a: [\n");
  const broken = await runMain(t, ["check", "--config", config, "--manifests", join(dir, "broken.yaml")]);
  t.match(broken.stderr, "broken.yaml: not YAML");
  await writeFile(join(dir, "empty.yaml"), "---\n");
  t.match(
    (await runMain(t, ["check", "--config", config, "--manifests", join(dir, "empty.yaml")])).stderr,
    "no manifests found",
  );
  const list = join(dir, "list");
  await cp(rendered, join(list, "a.yaml"));
  await writeFile(join(list, "sub.json"), JSON.stringify({ kind: "List", items: [] }));
  t.equal(
    (await runMain(t, ["check", "--config", config, "--manifests", list])).code,
    0,
    "a directory of files",
  );
  const start = await runMain(t, ["--config", config, "--manifests", rendered]);
  t.match(start.stderr, "--manifests is an option of cupbearer check only");
}

const version = await kubectlVersion();
if (version === undefined) {
  const banner = `SKIPPED: ${KUBECTL} not found; the deploy/ manifests were NOT rendered or checked. Install kubectl (it has Kustomize built in) to run these tests.`;
  if (process.env.CI === "true") {
    t.fail(`kubectl is required under CI=true: ${KUBECTL} not found`);
  } else {
    t.comment(`${"!".repeat(80)}\n${banner}\n${"!".repeat(80)}`);
    t.pass("deploy/ manifests", { skip: banner });
  }
} else {
  t.comment(`kubectl: ${version}`);
  for (const v of VARIANTS) t.test(v.dir, (t) => checkVariant(t, v));
  t.test("cupbearer check --manifests", checkManifestsCli);
}

t.test("deploy/README.md's commands are the ones tested here", async (t) => {
  const readme = readFileSync(join(ROOT, "deploy/README.md"), "utf8");
  const applied = [...readme.matchAll(/kubectl apply -k (\S+)/g)].map((m) => m[1]);
  t.ok(applied.length >= 3, "names its kubectl apply commands");
  // The forward-auth examples are rendered and checked by forward-auth.test.ts, beside this file.
  const forwardAuthTest = readFileSync(join(ROOT, "test/deploy/forward-auth.test.ts"), "utf8");
  for (const dir of applied)
    t.ok(
      VARIANTS.some((v) => v.dir === dir) || forwardAuthTest.includes(`dir: "${dir}"`),
      `${dir} is rendered and checked (here, or in forward-auth.test.ts)`,
    );
  const built = [...readme.matchAll(/docker (?:build -t|push) (\S+)/g)].map((m) => m[1]);
  t.strictSame(built, [IMAGE, IMAGE], "docker build and push name the manifests' image");
  const componentText = readFileSync(join(ROOT, "deploy/components/sidecar/kustomization.yaml"), "utf8");
  for (const m of componentText.matchAll(/docker (?:build -t|push) (\S+)/g)) {
    t.equal(m[1], IMAGE, "the component's comment builds that image too");
  }
  if (!existsSync(CLI)) {
    t.fail(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    return;
  }
  for (const [, file] of readme.matchAll(/npx cupbearer check --config (\S+)/g)) {
    const text = await readFile(join(ROOT, file ?? ""), "utf8");
    const res = await cupbearerCheck(text);
    t.equal(res.code, 0, `cupbearer check --config ${file}`);
  }
});

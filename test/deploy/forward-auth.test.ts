/**
 * deploy/forward-auth/: the ingress-nginx and Traefik examples rendered with `kubectl kustomize`,
 * every object checked against the Kubernetes API schemas (kubernetes-models; Traefik's
 * Middleware, a CRD it does not know, by a hand check of the keys used), then what makes them
 * work together: the ingress asks the cupbearer Service on the port and path the config serves
 * the endpoint on, the config reads that ingress's headers, the identity headers come back, and
 * only the controller's namespace may reach the endpoint. Ports, paths and shapes are read from
 * the rendered config, never from constants here. Needs kubectl, like kustomize.test.ts.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Deployment, type IDeployment } from "kubernetes-models/apps/v1/Deployment";
import { type IIngress, Ingress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import { type INetworkPolicy, NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { ConfigMap, type IConfigMap } from "kubernetes-models/v1/ConfigMap";
import { type IService, Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import t, { type Test } from "tap";
import { parseAllDocuments } from "yaml";
import { parseConfigText } from "../../src/config/load.js";
import type { Config } from "../../src/config/types.js";
import { STANDARD_IDENTITY_HEADERS } from "../../src/core/identity.js";

const run = promisify(execFile);
const ROOT = new URL("../../", import.meta.url).pathname;
const KUBECTL = process.env.KUBECTL ?? "kubectl";

type K8sObject = {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
} & Record<string, unknown>;

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "apps/v1/Deployment": Deployment,
  "v1/Service": Service,
  "v1/ServiceAccount": ServiceAccount,
  "v1/ConfigMap": ConfigMap,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "networking.k8s.io/v1/Ingress": Ingress,
};
const MIDDLEWARE = "traefik.io/v1alpha1/Middleware";
// The keys of Traefik's ForwardAuth middleware (traefik.io/v1alpha1, Traefik v3).
const FORWARD_AUTH_KEYS = new Set([
  "address",
  "tls",
  "trustForwardHeader",
  "authResponseHeaders",
  "authResponseHeadersRegex",
  "authRequestHeaders",
  "addAuthCookiesToResponse",
  "headerField",
  "forwardBody",
  "maxBodySize",
  "preserveLocationHeader",
  "preserveRequestMethod",
]);

function middlewareProblems(o: K8sObject): string[] {
  const out: string[] = [];
  for (const k of Object.keys(o))
    if (!["apiVersion", "kind", "metadata", "spec"].includes(k)) out.push(`${k}: unknown key`);
  const fa = (o.spec as { forwardAuth?: Record<string, unknown> } | undefined)?.forwardAuth;
  if (fa === undefined || typeof fa !== "object") return [...out, "spec.forwardAuth: required object"];
  for (const k of Object.keys(fa))
    if (!FORWARD_AUTH_KEYS.has(k)) out.push(`spec.forwardAuth.${k}: unknown key`);
  if (typeof fa.address !== "string") out.push("spec.forwardAuth.address: expected a URL");
  if (fa.trustForwardHeader !== undefined && typeof fa.trustForwardHeader !== "boolean")
    out.push("spec.forwardAuth.trustForwardHeader: expected a boolean");
  const headers = fa.authResponseHeaders;
  if (headers !== undefined && !(Array.isArray(headers) && headers.every((h) => typeof h === "string")))
    out.push("spec.forwardAuth.authResponseHeaders: expected a list of strings");
  return out;
}

function schemaProblems(o: K8sObject): string[] {
  const key = `${o.apiVersion}/${o.kind}`;
  if (key === MIDDLEWARE) return middlewareProblems(o);
  const Model = MODELS[key];
  if (Model === undefined) return [`no schema known for ${key}`];
  try {
    new Model(o as never).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

async function render(dir: string): Promise<K8sObject[]> {
  const { stdout } = await run(KUBECTL, ["kustomize", dir], { cwd: ROOT, maxBuffer: 16 << 20 });
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function only<T>(objs: K8sObject[], kind: string): T {
  const found = objs.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0] as T;
}

const splitList = (v: string) =>
  v
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== "");

interface Example {
  dir: string;
  ingress: NonNullable<Config["forwardAuth"]>["ingress"];
  controllerNamespace: string;
  /** Where the ingress is told to ask, and which identity headers it passes on. */
  asks(objs: K8sObject[], t: Test): { url: string; responseHeaders: string[] };
}

const EXAMPLES: Example[] = [
  {
    dir: "deploy/forward-auth/ingress-nginx",
    ingress: "nginx",
    controllerNamespace: "ingress-nginx",
    asks(objs, t) {
      const ing = only<IIngress>(objs, "Ingress");
      const a = ing.metadata?.annotations ?? {};
      t.equal(ing.spec?.ingressClassName, "nginx");
      return {
        url: a["nginx.ingress.kubernetes.io/auth-url"] ?? "",
        responseHeaders: splitList(a["nginx.ingress.kubernetes.io/auth-response-headers"] ?? ""),
      };
    },
  },
  {
    dir: "deploy/forward-auth/traefik",
    ingress: "traefik",
    controllerNamespace: "traefik",
    asks(objs, t) {
      const mw = objs.find((o) => `${o.apiVersion}/${o.kind}` === MIDDLEWARE) as K8sObject;
      const fa = (
        mw.spec as {
          forwardAuth: { address: string; authResponseHeaders: string[]; trustForwardHeader?: boolean };
        }
      ).forwardAuth;
      t.not(fa.trustForwardHeader, true, "trustForwardHeader is off: Traefik writes X-Forwarded-* itself");
      const ing = only<IIngress>(objs, "Ingress");
      t.equal(ing.spec?.ingressClassName, "traefik");
      t.equal(
        ing.metadata?.annotations?.["traefik.ingress.kubernetes.io/router.middlewares"],
        `${mw.metadata?.namespace}-${mw.metadata?.name}@kubernetescrd`,
        "the Ingress routes through the middleware",
      );
      return { url: fa.address, responseHeaders: fa.authResponseHeaders.map((h) => h.toLowerCase()) };
    },
  },
];

async function checkExample(t: Test, ex: Example): Promise<void> {
  const objs = await render(ex.dir);
  t.test("every rendered object passes its schema", async (t) => {
    for (const o of objs) t.same(schemaProblems(o), [], `${o.kind}/${o.metadata?.name}`);
  });
  const cm = only<IConfigMap>(objs, "ConfigMap");
  const config = parseConfigText(cm.data?.["config.yaml"] ?? "", {});
  const svc = only<IService>(objs, "Service");
  const dep = only<IDeployment>(objs, "Deployment");
  const np = only<INetworkPolicy>(objs, "NetworkPolicy");
  const fa = config.forwardAuth;

  t.test("the config serves forward-auth in this ingress's shape", async (t) => {
    t.equal(fa?.ingress, ex.ingress);
    t.equal(fa?.listener, "main", "on the listener the Service exposes");
    t.ok((fa?.trustedSources.length ?? 0) > 0, "trusted sources listed");
  });

  t.test("the ingress asks the Service on the endpoint's port and path", async (t) => {
    const { url, responseHeaders } = ex.asks(objs, t);
    const u = new URL(url);
    const ns = svc.metadata?.namespace;
    t.equal(u.hostname, `${svc.metadata?.name}.${ns}.svc.cluster.local`, "the Service's cluster name");
    const port = svc.spec?.ports?.find((p) => p.port === Number(u.port));
    t.ok(port, `the Service has port ${u.port}`);
    t.equal(port?.targetPort, config.listen.port, "which goes to listen.port");
    t.equal(u.pathname, fa?.path, "forwardAuth.path");
    t.same(
      [...responseHeaders].sort(),
      [...STANDARD_IDENTITY_HEADERS].sort(),
      "the identity headers come back to the app",
    );
    const containerPorts = dep.spec?.template.spec?.containers[0]?.ports?.map((p) => p.containerPort);
    t.ok(containerPorts?.includes(config.listen.port), "the container declares listen.port");
    t.ok(containerPorts?.includes(config.admin.port), "and admin.port, for the probes");
  });

  t.test("only the controller's namespace may reach the endpoint", async (t) => {
    const rules = np.spec?.ingress ?? [];
    t.equal(rules.length, 1);
    t.same(rules[0]?.from, [
      { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ex.controllerNamespace } } },
    ]);
    t.same(rules[0]?.ports, [{ port: config.listen.port, protocol: "TCP" }]);
    t.same(np.spec?.podSelector.matchLabels, dep.spec?.selector.matchLabels, "it selects cupbearer's pods");
  });
}

let version: string | undefined;
try {
  version = (await run(KUBECTL, ["version", "--client"])).stdout.trim();
} catch (err) {
  if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
}
if (version === undefined) {
  const banner = `SKIPPED: ${KUBECTL} not found; deploy/forward-auth was NOT rendered or checked. Install kubectl.`;
  if (process.env.CI === "true") t.fail(`kubectl is required under CI=true: ${KUBECTL} not found`);
  else {
    t.comment(`${"!".repeat(80)}\n${banner}\n${"!".repeat(80)}`);
    t.pass("deploy/forward-auth", { skip: banner });
  }
} else {
  for (const ex of EXAMPLES) t.test(ex.dir, (t) => checkExample(t, ex));
  t.test("the Middleware check refuses a broken one", async (t) => {
    t.same(
      middlewareProblems({
        apiVersion: "traefik.io/v1alpha1",
        kind: "Middleware",
        spec: { forwardAuth: { adress: "x", trustForwardHeader: "no" } },
      }),
      [
        "spec.forwardAuth.adress: unknown key",
        "spec.forwardAuth.address: expected a URL",
        "spec.forwardAuth.trustForwardHeader: expected a boolean",
      ],
    );
  });
}

/**
 * Cross-checks rendered Kubernetes manifests against a cupbearer config (`cupbearer check
 * --config F --manifests DIR|FILE`): the places where a pod that never becomes ready, or a
 * Service that reaches nothing, comes from the two disagreeing. Each mismatch is one sentence
 * naming the object, the container and the config key.
 *
 * Pure: objects in (already parsed YAML), mismatches out. Only what is certain is reported: a
 * port given by a name no container declares, or an env var from a Secret we cannot see, is
 * taken as the manifests say.
 */
import type { Config } from "./types.js";

/** One parsed manifest object and the file it came from. */
export interface ManifestObject {
  source: string;
  object: unknown;
}

/** What the check needs of the config file beyond its parsed values. */
export interface ConfigFacts {
  config: Config;
  /** The file's text, to compare with a ConfigMap's copy. */
  text: string;
  /** `${NAME}` references without a default: variables the container must set. */
  envNames: readonly string[];
}

/** The image's default config path (Dockerfile: CUPBEARER_CONFIG). */
export const DEFAULT_CONFIG_PATH = "/etc/cupbearer/config.yaml";

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === "object" && v !== null && !Array.isArray(v);
const recs = (v: unknown): Rec[] => (Array.isArray(v) ? v.filter(isRec) : []);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const LOOPBACK = new Set(["127.0.0.1", "::1", "[::1]", "localhost"]);

/** Kinds whose pods are described by `spec.template`. */
const WORKLOADS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"]);

interface Pod {
  source: string;
  /** `Deployment/my-app` */
  owner: string;
  namespace: string | undefined;
  labels: Record<string, string>;
  spec: Rec;
}

const nameOf = (o: Rec): string =>
  `${str(o.kind) ?? "?"}/${str((o.metadata as Rec | undefined)?.name) ?? "?"}`;
const namespaceOf = (o: Rec): string | undefined => str((o.metadata as Rec | undefined)?.namespace);

function podsOf(objects: readonly ManifestObject[]): Pod[] {
  const pods: Pod[] = [];
  for (const { source, object: o } of objects) {
    if (!isRec(o)) continue;
    const kind = str(o.kind);
    const spec = isRec(o.spec) ? o.spec : undefined;
    let template: Rec | undefined;
    if (kind === "Pod") template = o;
    else if (kind !== undefined && WORKLOADS.has(kind) && isRec(spec?.template)) template = spec.template;
    else if (kind === "CronJob") {
      const job = isRec(spec?.jobTemplate) ? (spec.jobTemplate.spec as Rec | undefined) : undefined;
      if (isRec(job?.template)) template = job.template;
    }
    if (template === undefined || !isRec(template.spec)) continue;
    const labels = (template.metadata as Rec | undefined)?.labels;
    pods.push({
      source,
      owner: nameOf(o),
      namespace: namespaceOf(o),
      labels: isRec(labels) ? (labels as Record<string, string>) : {},
      spec: template.spec,
    });
  }
  return pods;
}

/** The cupbearer container of a pod: named cupbearer, or running an image named cupbearer. */
function cupbearerContainer(pod: Pod): { container: Rec; init: boolean } | undefined {
  const all = [
    ...recs(pod.spec.initContainers).map((container) => ({ container, init: true })),
    ...recs(pod.spec.containers).map((container) => ({ container, init: false })),
  ];
  return (
    all.find((c) => c.container.name === "cupbearer") ??
    all.find((c) => /(^|\/)cupbearer(:|@|$)/.test(str(c.container.image) ?? ""))
  );
}

/** A port (number, numeric string, or a name declared by the container) as a number. */
function portNumber(container: Rec, port: unknown): number | undefined {
  if (typeof port === "number") return port;
  if (typeof port !== "string") return undefined;
  if (/^\d+$/.test(port)) return Number(port);
  const named = recs(container.ports).find((p) => p.name === port)?.containerPort;
  return typeof named === "number" ? named : undefined;
}

function selects(selector: unknown, labels: Record<string, string>): boolean {
  if (!isRec(selector)) return false;
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** The config file path cupbearer reads in this container: `--config`, else CUPBEARER_CONFIG, else the default. */
function configPathOf(container: Rec): string {
  const args = [
    ...(Array.isArray(container.command) ? container.command : []),
    ...(Array.isArray(container.args) ? container.args : []),
  ].map(String);
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if ((a === "--config" || a === "-c") && args[i + 1] !== undefined) return args[i + 1] as string;
    if (a.startsWith("--config=")) return a.slice("--config=".length);
  }
  const env = recs(container.env).find((e) => e.name === "CUPBEARER_CONFIG");
  return str(env?.value) ?? DEFAULT_CONFIG_PATH;
}

/**
 * Every mismatch between the manifests and the config, each a sentence starting with the object
 * it is found in (`deploy.yaml: Deployment/my-app, container cupbearer: …`).
 */
export function checkManifests(objects: readonly ManifestObject[], facts: ConfigFacts): string[] {
  const { config } = facts;
  const out: string[] = [];
  const pods = podsOf(objects).flatMap((pod) => {
    const found = cupbearerContainer(pod);
    return found === undefined ? [] : [{ pod, ...found }];
  });
  if (pods.length === 0) {
    return [
      "no workload in the manifests has a cupbearer container (named cupbearer, or an image named cupbearer)",
    ];
  }
  const byKind = (kind: string) =>
    objects.filter((m): m is { source: string; object: Rec } => isRec(m.object) && m.object.kind === kind);

  for (const { pod, container } of pods) {
    const at = `${pod.source}: ${pod.owner}, container ${str(container.name) ?? "?"}`;
    const mismatch = (message: string) => out.push(`${at}: ${message}`);
    const declared = recs(container.ports).map((p) => p.containerPort);

    // Ports and hosts the pod's traffic and probes need.
    for (const [key, port] of [
      ["listen.port", config.listen.port],
      ["admin.port", config.admin.port],
    ] as const) {
      if (declared.length > 0 && !declared.includes(port))
        mismatch(`declares no containerPort ${port} (${key})`);
    }
    for (const probeKey of ["startupProbe", "livenessProbe", "readinessProbe"] as const) {
      const probe = container[probeKey];
      if (!isRec(probe)) continue;
      const http = isRec(probe.httpGet) ? probe.httpGet : undefined;
      const port = portNumber(container, http?.port ?? (probe.tcpSocket as Rec | undefined)?.port);
      if (port === undefined) continue;
      if (port !== config.admin.port) {
        mismatch(
          `${probeKey} probes port ${port}, but admin.port is ${config.admin.port}${
            port === config.listen.port
              ? " (that is listen.port, which answers /healthz only through a route)"
              : ""
          }`,
        );
        continue;
      }
      const path = str(http?.path);
      const expected = probeKey === "readinessProbe" ? ["/readyz"] : ["/healthz", "/readyz"];
      if (http !== undefined && (path === undefined || !expected.includes(path))) {
        mismatch(
          `${probeKey} asks for ${path ?? "/"}, which the admin listener does not serve (use ${expected.join(" or ")})`,
        );
      }
      if (LOOPBACK.has(config.admin.host)) {
        mismatch(
          `${probeKey} probes port ${port} from the node, but admin.host is ${config.admin.host}: the probe can never reach it (set admin.host: 0.0.0.0)`,
        );
      }
    }

    // Other containers' probes through cupbearer's proxy port.
    for (const other of [...recs(pod.spec.containers), ...recs(pod.spec.initContainers)]) {
      if (other === container) continue;
      for (const probeKey of ["startupProbe", "livenessProbe", "readinessProbe"] as const) {
        const probe = other[probeKey];
        const port =
          isRec(probe) && isRec(probe.httpGet) ? portNumber(container, probe.httpGet.port) : undefined;
        if (port === config.listen.port && LOOPBACK.has(config.listen.host)) {
          out.push(
            `${pod.source}: ${pod.owner}, container ${str(other.name) ?? "?"}: ${probeKey} goes through port ${port}, but listen.host is ${config.listen.host}: unreachable from the node`,
          );
        }
      }
    }

    // The config file: mounted where cupbearer reads it, from a ConfigMap holding this config.
    const path = configPathOf(container);
    const mounts = recs(container.volumeMounts).filter((m) => {
      const mp = str(m.mountPath) ?? "";
      return str(m.subPath) !== undefined
        ? mp === path
        : path === mp || path.startsWith(`${mp.replace(/\/$/, "")}/`);
    });
    const mount = mounts.sort((a, b) => String(b.mountPath).length - String(a.mountPath).length)[0];
    if (mount === undefined) {
      mismatch(`reads its config from ${path}, but no volume is mounted there`);
    } else {
      const volume = recs(pod.spec.volumes).find((v) => v.name === mount.name);
      const cmName = str((volume?.configMap as Rec | undefined)?.name);
      if (volume === undefined)
        mismatch(`mounts volume ${String(mount.name)}, which the pod does not define`);
      else if (cmName !== undefined) {
        const mountPath = String(mount.mountPath);
        const relative = str(mount.subPath) ?? path.slice(mountPath.replace(/\/$/, "").length + 1);
        const items = recs((volume.configMap as Rec).items);
        const key = items.length > 0 ? str(items.find((i) => i.path === relative)?.key) : relative;
        const cm = byKind("ConfigMap").find(
          (m) =>
            (m.object.metadata as Rec | undefined)?.name === cmName &&
            namespaceOf(m.object) === pod.namespace,
        );
        if (key === undefined)
          mismatch(`ConfigMap ${cmName} is mounted without an item for ${relative} (${path})`);
        else if (cm !== undefined) {
          const data = cm.object.data;
          const text = isRec(data) ? str(data[key]) : undefined;
          if (text === undefined) mismatch(`reads ${path}, but ConfigMap ${cmName} has no key ${key}`);
          else if (text.trim() !== facts.text.trim()) {
            mismatch(`ConfigMap ${cmName}'s ${key} (mounted at ${path}) is not the config file checked here`);
          }
        }
      }
    }

    // Environment variables the config names.
    const env = new Set(recs(container.env).map((e) => String(e.name)));
    const envFrom = recs(container.envFrom);
    for (const name of facts.envNames) {
      if (env.has(name)) continue;
      const fromSomewhere = envFrom.some((source) => {
        const prefix = str(source.prefix) ?? "";
        if (!name.startsWith(prefix)) return false;
        const cmRef = str((source.configMapRef as Rec | undefined)?.name);
        if (cmRef === undefined) return true; // a Secret: its keys are not in the manifests
        const cm = byKind("ConfigMap").find((m) => (m.object.metadata as Rec | undefined)?.name === cmRef);
        return cm === undefined || (isRec(cm.object.data) && name.slice(prefix.length) in cm.object.data);
      });
      if (!fromSomewhere)
        mismatch(`the config uses \${${name}}, which this container does not set (env or envFrom)`);
    }

    // Services and NetworkPolicies selecting this pod.
    for (const svc of byKind("Service")) {
      const spec = svc.object.spec as Rec | undefined;
      if (namespaceOf(svc.object) !== pod.namespace || !selects(spec?.selector, pod.labels)) continue;
      for (const p of recs(spec?.ports)) {
        const target = portNumber(container, p.targetPort ?? p.port);
        const named = typeof p.targetPort === "string" && !/^\d+$/.test(p.targetPort);
        const where = `${svc.source}: ${nameOf(svc.object)}, port ${String(p.name ?? p.port)}`;
        if (target === undefined) {
          if (named)
            out.push(
              `${where}: targets port name ${p.targetPort}, which container ${String(container.name)} does not declare`,
            );
        } else if (target === config.admin.port) {
          out.push(
            `${where}: targets admin.port ${target}: the admin listener has no authentication, keep it out of Services`,
          );
        } else if (target !== config.listen.port) {
          out.push(
            `${where}: targets port ${target}, but listen.port is ${config.listen.port}: traffic would bypass cupbearer or reach nothing`,
          );
        } else if (LOOPBACK.has(config.listen.host)) {
          out.push(
            `${where}: targets listen.port ${target}, but listen.host is ${config.listen.host}: unreachable from outside the pod`,
          );
        }
      }
    }
    for (const np of byKind("NetworkPolicy")) {
      const spec = np.object.spec as Rec | undefined;
      if (
        namespaceOf(np.object) !== pod.namespace ||
        !selects((spec?.podSelector as Rec | undefined)?.matchLabels, pod.labels)
      )
        continue;
      const types = Array.isArray(spec?.policyTypes) ? spec.policyTypes : ["Ingress"];
      if (!types.includes("Ingress")) continue;
      const rules = recs(spec?.ingress);
      const admits = rules.some((r) => {
        const ports = recs(r.ports);
        return (
          ports.length === 0 ||
          ports.some((p) => {
            const lo = portNumber(container, p.port);
            if (p.port === undefined) return true;
            if (lo === undefined) return false;
            const hi = typeof p.endPort === "number" ? p.endPort : lo;
            return lo <= config.listen.port && config.listen.port <= hi;
          })
        );
      });
      if (!admits) {
        out.push(
          `${np.source}: ${nameOf(np.object)}: admits no traffic to listen.port ${config.listen.port}, so clients cannot reach cupbearer`,
        );
      }
    }
  }
  return out;
}

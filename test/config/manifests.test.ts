// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${ENV} references are part of this file's subject
/**
 * checkManifests: each mismatch between rendered manifests and a config is named, with the
 * object, the container and the config key; manifests that agree give none.
 */
import t from "tap";
import { parseConfigText, requiredEnvNames } from "../../src/config/load.js";
import { checkManifests, type ManifestObject } from "../../src/config/manifests.js";

const CONFIG = `listen: { host: 0.0.0.0, port: 8080 }
admin: { host: 0.0.0.0, port: 9090 }
issuers:
  - id: pool
    cognito: { region: eu-west-1, userPoolId: "\${POOL_ID}" }
    clientIds: ["\${CLIENT_ID:-1example23456789}"]
routes:
  - id: app
    upstream: http://127.0.0.1:3000
`;

type Rec = Record<string, unknown>;

/** A pod that agrees with CONFIG: the base's shape, trimmed to what the check reads. */
function world(): Rec[] {
  const cupbearer: Rec = {
    name: "cupbearer",
    image: "registry.example.com/cupbearer:0.1.0",
    restartPolicy: "Always",
    env: [
      { name: "CUPBEARER_CONFIG", value: "/etc/cupbearer/config.yaml" },
      { name: "POOL_ID", value: "eu-west-1_AbCdEf123" },
    ],
    ports: [
      { name: "proxy", containerPort: 8080 },
      { name: "admin", containerPort: 9090 },
    ],
    startupProbe: { httpGet: { path: "/healthz", port: "admin" } },
    livenessProbe: { httpGet: { path: "/healthz", port: "admin" } },
    readinessProbe: { httpGet: { path: "/readyz", port: 9090 } },
    volumeMounts: [{ name: "config", mountPath: "/etc/cupbearer", readOnly: true }],
  };
  const app: Rec = {
    name: "app",
    image: "app:1",
    readinessProbe: { httpGet: { path: "/healthz", port: 8080 } },
  };
  return [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "my-app" },
      spec: {
        selector: { matchLabels: { app: "my-app" } },
        template: {
          metadata: { labels: { app: "my-app" } },
          spec: {
            initContainers: [cupbearer],
            containers: [app],
            volumes: [{ name: "config", configMap: { name: "cupbearer-config-abc" } }],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "cupbearer-config-abc" },
      data: { "config.yaml": CONFIG },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "my-app" },
      spec: { selector: { app: "my-app" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "my-app-cupbearer" },
      spec: {
        podSelector: { matchLabels: { app: "my-app" } },
        policyTypes: ["Ingress"],
        ingress: [{ ports: [{ port: 8080 }] }, { from: [{ podSelector: {} }], ports: [{ port: 9090 }] }],
      },
    },
  ];
}

const podSpec = (objs: Rec[]) => (((objs[0] as Rec).spec as Rec).template as Rec).spec as Rec;
const sidecar = (objs: Rec[]) => (podSpec(objs).initContainers as Rec[])[0] as Rec;

function check(objs: Rec[], text = CONFIG): string[] {
  const manifests: ManifestObject[] = objs.map((object) => ({ source: "r.yaml", object }));
  const config = parseConfigText(text, { POOL_ID: "eu-west-1_AbCdEf123" });
  return checkManifests(manifests, { config, text, envNames: requiredEnvNames(text) });
}

const AT = "r.yaml: Deployment/my-app, container cupbearer";

t.test("manifests that agree with the config: no mismatch", async (t) => {
  t.strictSame(check(world()), []);
  t.strictSame(requiredEnvNames(CONFIG), ["POOL_ID"], "a variable with a default is not required");
  t.strictSame(requiredEnvNames('a: $${NOT}\nb: ["${B}", { c: "${A}" }]\n'), ["A", "B"]);
  t.throws(() => requiredEnvNames("a: [\n"), { name: "ConfigError" });
});

t.test("each kind of mismatch, named", async (t) => {
  const cases: Array<[string, (o: Rec[]) => void, string[], string?]> = [
    [
      "admin on loopback (config/aws.yaml in the pod)",
      () => undefined,
      [
        `${AT}: startupProbe probes port 9090 from the node, but admin.host is 127.0.0.1: the probe can never reach it (set admin.host: 0.0.0.0)`,
        `${AT}: livenessProbe probes port 9090 from the node, but admin.host is 127.0.0.1: the probe can never reach it (set admin.host: 0.0.0.0)`,
        `${AT}: readinessProbe probes port 9090 from the node, but admin.host is 127.0.0.1: the probe can never reach it (set admin.host: 0.0.0.0)`,
      ],
      CONFIG.replace("admin: { host: 0.0.0.0, port: 9090 }", "admin: { host: 127.0.0.1, port: 9090 }"),
    ],
    [
      "probes on another port",
      (o) => {
        sidecar(o).readinessProbe = { httpGet: { path: "/readyz", port: 9091 } };
        sidecar(o).livenessProbe = { httpGet: { path: "/healthz", port: "proxy" } };
      },
      [
        `${AT}: livenessProbe probes port 8080, but admin.port is 9090 (that is listen.port, which answers /healthz only through a route)`,
        `${AT}: readinessProbe probes port 9091, but admin.port is 9090`,
      ],
    ],
    [
      "a readiness probe on /healthz",
      (o) => {
        sidecar(o).readinessProbe = { httpGet: { path: "/healthz", port: 9090 } };
        sidecar(o).startupProbe = { httpGet: { path: "/ready", port: 9090 } };
      },
      [
        `${AT}: startupProbe asks for /ready, which the admin listener does not serve (use /healthz or /readyz)`,
        `${AT}: readinessProbe asks for /healthz, which the admin listener does not serve (use /readyz)`,
      ],
    ],
    [
      "container ports that are not the config's",
      (o) => {
        sidecar(o).ports = [
          { name: "proxy", containerPort: 8081 },
          { name: "admin", containerPort: 9090 },
        ];
      },
      [`${AT}: declares no containerPort 8080 (listen.port)`],
    ],
    [
      "the config mounted elsewhere",
      (o) => {
        sidecar(o).volumeMounts = [{ name: "config", mountPath: "/config" }];
      },
      [`${AT}: reads its config from /etc/cupbearer/config.yaml, but no volume is mounted there`],
    ],
    [
      "--config in args wins",
      (o) => {
        sidecar(o).args = ["--config", "/config/cupbearer.yaml"];
        sidecar(o).volumeMounts = [{ name: "config", mountPath: "/config" }];
      },
      [`${AT}: reads /config/cupbearer.yaml, but ConfigMap cupbearer-config-abc has no key cupbearer.yaml`],
    ],
    [
      "another config in the ConfigMap",
      (o) => {
        (o[1] as Rec).data = { "config.yaml": "routes: []\n" };
      },
      [
        `${AT}: ConfigMap cupbearer-config-abc's config.yaml (mounted at /etc/cupbearer/config.yaml) is not the config file checked here`,
      ],
    ],
    [
      "a volume that is not there",
      (o) => {
        podSpec(o).volumes = [];
      },
      [`${AT}: mounts volume config, which the pod does not define`],
    ],
    [
      "items without the file",
      (o) => {
        podSpec(o).volumes = [
          {
            name: "config",
            configMap: { name: "cupbearer-config-abc", items: [{ key: "config.yaml", path: "other.yaml" }] },
          },
        ];
      },
      [
        `${AT}: ConfigMap cupbearer-config-abc is mounted without an item for config.yaml (/etc/cupbearer/config.yaml)`,
      ],
    ],
    [
      "an env var the config needs, unset",
      (o) => {
        sidecar(o).env = [{ name: "CUPBEARER_CONFIG", value: "/etc/cupbearer/config.yaml" }];
      },
      [`${AT}: the config uses \${POOL_ID}, which this container does not set (env or envFrom)`],
    ],
    [
      "an env var from a ConfigMap without that key",
      (o) => {
        sidecar(o).env = [];
        sidecar(o).envFrom = [{ configMapRef: { name: "settings" } }];
        o.push({ kind: "ConfigMap", metadata: { name: "settings" }, data: { OTHER: "x" } });
      },
      [`${AT}: the config uses \${POOL_ID}, which this container does not set (env or envFrom)`],
    ],
    [
      "a Service targeting the app's port, another the admin port",
      (o) => {
        o.push({
          kind: "Service",
          metadata: { name: "direct" },
          spec: {
            selector: { app: "my-app" },
            ports: [
              { port: 80, targetPort: 3000 },
              { name: "m", port: 9090, targetPort: "admin" },
              { name: "n", port: 1, targetPort: "nope" },
            ],
          },
        });
      },
      [
        "r.yaml: Service/direct, port 80: targets port 3000, but listen.port is 8080: traffic would bypass cupbearer or reach nothing",
        "r.yaml: Service/direct, port m: targets admin.port 9090: the admin listener has no authentication, keep it out of Services",
        "r.yaml: Service/direct, port n: targets port name nope, which container cupbearer does not declare",
      ],
    ],
    [
      "a NetworkPolicy that shuts the proxy port",
      (o) => {
        ((o[3] as Rec).spec as Rec).ingress = [{ ports: [{ port: 9090 }] }];
      },
      [
        "r.yaml: NetworkPolicy/my-app-cupbearer: admits no traffic to listen.port 8080, so clients cannot reach cupbearer",
      ],
    ],
    [
      "listen on loopback",
      () => undefined,
      [
        "r.yaml: Deployment/my-app, container app: readinessProbe goes through port 8080, but listen.host is 127.0.0.1: unreachable from the node",
        "r.yaml: Service/my-app, port http: targets listen.port 8080, but listen.host is 127.0.0.1: unreachable from outside the pod",
      ],
      CONFIG.replace("listen: { host: 0.0.0.0, port: 8080 }", "listen: { host: 127.0.0.1, port: 8080 }"),
    ],
  ];
  for (const [name, change, expected, text] of cases) {
    const objs = world();
    change(objs);
    if (text !== undefined) (objs[1] as Rec).data = { "config.yaml": text };
    t.strictSame(check(objs, text), expected, name);
  }
});

t.test("what the manifests leave open is not a mismatch", async (t) => {
  const objs = world();
  sidecar(objs).env = [];
  sidecar(objs).envFrom = [{ secretRef: { name: "from-a-secret" } }];
  t.strictSame(check(objs), [], "a Secret may hold the variable");
  const ranged = world();
  ((ranged[3] as Rec).spec as Rec).ingress = [{ ports: [{ port: 8000, endPort: 8100 }] }];
  t.strictSame(check(ranged), [], "a port range covering listen.port");
  const elsewhere = world();
  (elsewhere[2] as Rec).metadata = { name: "my-app", namespace: "other" };
  ((elsewhere[2] as Rec).spec as Rec).ports = [{ port: 80, targetPort: 3000 }];
  t.strictSame(check(elsewhere), [], "a Service of another namespace");
  const byImage = world();
  sidecar(byImage).name = "proxy";
  t.match(
    check(byImage, CONFIG.replace("port: 9090", "port: 9091"))[0],
    /container proxy: /,
    "found by its image",
  );
});

t.test("no cupbearer in the manifests", async (t) => {
  const objs = world();
  podSpec(objs).initContainers = [];
  t.strictSame(check(objs), [
    "no workload in the manifests has a cupbearer container (named cupbearer, or an image named cupbearer)",
  ]);
  t.strictSame(
    check([
      {
        kind: "CronJob",
        spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: "x" }] } } } } },
      },
    ]).length,
    1,
  );
});

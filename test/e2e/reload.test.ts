import { mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { request } from "undici";
import { loadConfigFile, parseConfigText } from "../../src/config/load.js";
import { watchConfigFile } from "../../src/config/watch.js";
import { type RunningApp, startApp, waitReady } from "../support/app.js";
import { spawnCli } from "../support/cli.js";
import { freePorts } from "../support/emulators.js";
import { startIssuer } from "../support/issuer.js";
import { startUpstream } from "../support/upstream.js";
import { waitFor } from "../support/wait.js";

/** Live reload: one atomic swap, nothing lost, nothing mixed; a bad config changes nothing. */
const head = (extra = "") =>
  `listen: { host: 127.0.0.1, port: 0 }\nadmin: { host: 127.0.0.1, port: 0 }\n${extra}`;

/** The value of cupbearer_config_reloads_total{result} on an admin listener. */
async function reloadCount(adminUrl: string, result: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return Number(
    new RegExp(`cupbearer_config_reloads_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0,
  );
}

/** Waits until an admin listener has counted at least `count` reloads with this result. */
function reloadsReach(adminUrl: string, result: string, count: number): Promise<true> {
  return waitFor(`${count} reload(s) counted as ${result} at ${adminUrl}/metrics`, async () =>
    (await reloadCount(adminUrl, result)) >= count ? true : undefined,
  );
}

/**
 * Swaps between two configs `swaps` times while 8 clients keep calling. A: /api needs a token and
 * goes to `strict`; B: /api is public and goes to `open`. An answer mixing them (A's upstream with
 * B's rules) would show up as a tokenless request at `strict`; a lost one as a failed call.
 */
async function underLoad(
  t: Test,
  swaps: number,
  swap: (app: RunningApp, yaml: string) => Promise<void>,
  setup?: (app: RunningApp, initialYaml: string) => Promise<void>,
): Promise<void> {
  const issuer = await startIssuer();
  const strict = await startUpstream();
  const open = await startUpstream();
  const issuers = `issuers:\n  - { id: local, issuer: "${issuer.issuer}", jwksUri: "${issuer.jwksUri}", clientIds: [test-client] }\n`;
  const configA = `${issuers}routes:\n  - { id: api, match: { pathPrefix: /api }, upstream: "${strict.url}" }\n`;
  const configB = `${issuers}routes:\n  - { id: api, match: { pathPrefix: /api }, upstream: "${open.url}", auth: { mode: public } }\n`;
  const app = await startApp(configA);
  t.teardown(async () => {
    await app.stop();
    await Promise.all([strict.close(), open.close(), issuer.close()]);
  });
  await waitReady(app.adminUrl);
  await setup?.(app, head(configA));

  let stop = false;
  const statuses = new Map<number, number>();
  const client = async () => {
    while (!stop) {
      const res = await request(`${app.url}/api/x`).catch(() => undefined);
      const status = res?.statusCode ?? 0;
      await res?.body.dump();
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  const clients = Array.from({ length: 8 }, client);
  for (let i = 0; i < swaps; i++) await swap(app, head(i % 2 === 0 ? configB : configA));
  stop = true;
  await Promise.all(clients);

  t.same(
    [...statuses.keys()].sort(),
    [200, 401],
    `only the two configs' answers: ${JSON.stringify([...statuses])}`,
  );
  t.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(401) ?? 0) > 0, "both configs served");
  t.equal(strict.requests.length, 0, "config A's upstream never saw a tokenless request");
  t.equal(open.requests.length, statuses.get(200), "every 200 came from config B's upstream");
  const metrics = await (await fetch(`${app.adminUrl}/metrics`)).text();
  t.match(
    metrics,
    new RegExp(`cupbearer_config_reloads_total\\{result="success"\\} ${swaps}\\b`),
    "every swap counted",
  );
}

t.test("under load, every answer follows exactly one config, and no request is lost", async (t) => {
  await underLoad(t, 10, async (app, yaml) => {
    t.equal(await app.app.reload(async () => parseConfigText(yaml)), true);
    await new Promise((r) => setTimeout(r, 30));
  });
});

t.test("the same while the config file itself changes, seen by the watcher", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-load-"));
  const file = join(dir, "config.yaml");
  let written = 0;
  await underLoad(
    t,
    6,
    async (app, yaml) => {
      await writeFile(file, yaml);
      await reloadsReach(app.adminUrl, "success", ++written);
    },
    async (app, initialYaml) => {
      await writeFile(file, initialYaml);
      const stopWatching = watchConfigFile(file, () => void app.app.reload(() => loadConfigFile(file)));
      t.teardown(stopWatching);
      await new Promise((r) => setTimeout(r, 100));
    },
  );
});

t.test("an invalid config changes nothing, is logged with every error, and counted", async (t) => {
  const up = await startUpstream();
  const app = await startApp(`routes:\n  - { id: a, upstream: "${up.url}", auth: { mode: public } }\n`);
  t.teardown(async () => {
    await app.stop();
    await up.close();
  });
  await waitReady(app.adminUrl);
  const ok = await app.app.reload(async () =>
    parseConfigText(head("routes:\n  - { id: a, upstream: 'ftp://x', auth: { scopes: read }, extra: 1 }\n")),
  );
  t.equal(ok, false);
  t.equal((await request(`${app.url}/x`)).statusCode, 200, "the old config still serves");
  t.equal((await fetch(`${app.adminUrl}/readyz`)).status, 200, "readiness unchanged");
  const logged = app.logs.find((l) => String(l.msg).startsWith("config reload refused"));
  t.same(
    new Set(logged?.problems as string[]),
    new Set([
      "routes[0].extra: unknown key",
      "routes[0].upstream.url: expected an http:// or https:// URL without credentials",
      "routes[0].auth.scopes: expected a list of strings",
      "routes[0].auth.mode: required needs at least one entry in issuers",
    ]),
    "every error, each with its path",
  );
  const metrics = await (await fetch(`${app.adminUrl}/metrics`)).text();
  t.match(metrics, /cupbearer_config_reloads_total\{result="invalid"\} 1/);
});

t.test("a new issuer's keys are loaded before the swap; an unreachable one refuses the reload", async (t) => {
  const first = await startIssuer();
  const second = await startIssuer();
  const up = await startUpstream();
  const iss = (i: { issuer: string; jwksUri: string }, id: string) =>
    `  - { id: ${id}, issuer: "${i.issuer}", jwksUri: "${i.jwksUri}", clientIds: [test-client] }\n`;
  const routes = `routes:\n  - { id: api, upstream: "${up.url}" }\n`;
  const app = await startApp(`issuers:\n${iss(first, "one")}${routes}`);
  t.teardown(async () => {
    await app.stop();
    await Promise.all([first.close(), second.close(), up.close()]);
  });
  await waitReady(app.adminUrl);
  const call = async (token: string) =>
    (await request(`${app.url}/x`, { headers: { authorization: `Bearer ${token}` } })).statusCode;
  t.equal(await call(second.token()), 401, "before: the second issuer is unknown");

  second.up = false;
  const refused = await app.app.reload(async () =>
    parseConfigText(head(`issuers:\n${iss(first, "one")}${iss(second, "two")}${routes}`)),
  );
  t.equal(refused, false, "keys could not be loaded: nothing changes");
  t.equal(await call(first.token()), 200);
  t.equal(await call(second.token()), 401);

  second.up = true;
  const requestsBefore = second.jwksRequests;
  const swapped = await app.app.reload(async () =>
    parseConfigText(head(`issuers:\n${iss(first, "one")}${iss(second, "two")}${routes}`)),
  );
  t.equal(swapped, true);
  t.ok(second.jwksRequests > requestsBefore, "the new issuer's JWKS was fetched during the reload");
  t.equal(await call(second.token()), 200, "right after the swap, the new issuer's tokens pass (no 503)");
  const metrics = await (await fetch(`${app.adminUrl}/metrics`)).text();
  t.match(metrics, /cupbearer_config_reloads_total\{result="failed"\} 1/);
});

t.test(
  "the watcher sees edits in place and a Kubernetes ConfigMap symlink swap, and ignores no-op events",
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "cupbearer-watch-"));
    // The ConfigMap layout: config.yaml -> ..data/config.yaml, ..data -> ..2026_v1
    await writeFile(join(dir, "v1.yaml"), "a: 1\n");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(join(dir, "..v1"));
    await writeFile(join(dir, "..v1", "config.yaml"), "a: 1\n");
    await symlink("..v1", join(dir, "..data"));
    await symlink("..data/config.yaml", join(dir, "config.yaml"));
    let changes = 0;
    const stop = watchConfigFile(join(dir, "config.yaml"), () => changes++);
    t.teardown(stop);
    const settle = () => new Promise((r) => setTimeout(r, 600));
    await settle();

    await writeFile(join(dir, "unrelated.txt"), "x");
    await settle();
    t.equal(changes, 0, "another file in the folder: no reload");

    await mkdir(join(dir, "..v2"));
    await writeFile(join(dir, "..v2", "config.yaml"), "a: 2\n");
    await symlink("..v2", join(dir, "..data_tmp"));
    await rename(join(dir, "..data_tmp"), join(dir, "..data"));
    await waitFor("the watcher to see the symlink swap", () => (changes > 0 ? true : undefined));
    t.equal(changes, 1, "the symlink swap is one change");

    await writeFile(join(dir, "..v2", "config.yaml"), "a: 2\n");
    await settle();
    t.equal(changes, 1, "rewriting the same content is no change");
  },
);

t.test(
  "the watcher: a deleted file is a change, and a folder that cannot be watched is no error",
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "cupbearer-watch-"));
    const file = join(dir, "config.yaml");
    await writeFile(file, "a: 1\n");
    let changes = 0;
    const stop = watchConfigFile(file, () => changes++);
    t.teardown(stop);
    await new Promise((r) => setTimeout(r, 100)); // the watcher's first digest
    await rm(file);
    await waitFor("the watcher to see the file deleted", () => (changes > 0 ? true : undefined));
    t.equal(changes, 1, "deleted: its content changed to none");

    let never = 0;
    const stopNothing = watchConfigFile(join(dir, "no-such-folder", "config.yaml"), () => never++);
    t.type(stopNothing, "function", "a folder that is not there: a stop function all the same");
    stopNothing();
    t.equal(never, 0);
  },
);

t.test("the CLI reloads on a file change and on SIGHUP; a bad edit keeps the old config", async (t) => {
  const up = await startUpstream();
  const issuer = await startIssuer();
  const [port, adminPort] = await freePorts(2);
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-reload-"));
  const file = join(dir, "config.yaml");
  const config = (auth: string) =>
    `listen: { host: 127.0.0.1, port: ${port} }\nadmin: { host: 127.0.0.1, port: ${adminPort} }\n` +
    `issuers:\n  - { id: local, issuer: "${issuer.issuer}", jwksUri: "${issuer.jwksUri}", clientIds: [test-client] }\n` +
    `routes:\n  - { id: api, upstream: "${up.url}", auth: ${auth} }\n`;
  await writeFile(file, config("{ mode: public }"));
  const { child, exited } = spawnCli(t, ["--config", file]);
  t.teardown(() => Promise.all([up.close(), issuer.close()]));
  const base = `http://127.0.0.1:${port}`;
  await waitReady(`http://127.0.0.1:${adminPort}`, 20_000);
  const status = async () => (await request(`${base}/x`)).statusCode;
  const until = (want: number) =>
    waitFor(`${base}/x to answer ${want}`, async () => ((await status()) === want ? want : undefined));
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const reloads = (result: string) => reloadCount(adminUrl, result);
  t.equal(await status(), 200, "public at first");

  await writeFile(file, config("{ mode: required }"));
  t.equal(await until(401), 401, "the edited file took effect without a restart");

  await writeFile(file, config("{ mode: required, scopes: oops }"));
  await reloadsReach(adminUrl, "invalid", 1);
  t.equal(await reloads("invalid"), 1, "the bad edit was seen and refused");
  t.equal(await status(), 401, "the old config still holds");

  await writeFile(file, config("{ mode: public }"));
  t.equal(await until(200), 200);
  const before = await reloads("success");
  child.kill("SIGHUP");
  await reloadsReach(adminUrl, "success", before + 1);
  t.equal(await reloads("success"), before + 1, "SIGHUP reloads even when the file did not change");
  child.kill("SIGTERM");
  t.equal(await exited, 0);
});

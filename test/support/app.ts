import { Writable } from "node:stream";
import { type App, createApp } from "../../src/app.js";
import { parseConfigText } from "../../src/config/load.js";
import { createLogger } from "../../src/log.js";
import { waitFor } from "./wait.js";

export interface RunningApp {
  app: App;
  url: string;
  adminUrl: string;
  /** Every log line written, parsed. */
  logs: Array<Record<string, unknown>>;
  /** The raw log text, to prove no token ever reaches it. */
  logText: () => string;
  stop(): Promise<void>;
}

/**
 * Starts cupbearer in this process on free ports of 127.0.0.1 with the given YAML (listen/admin
 * added; `listenExtra` adds keys to listen, like `tls: {...}`, and then `url` is https).
 */
export async function startApp(
  yaml: string,
  env: NodeJS.ProcessEnv = {},
  listenExtra = "",
): Promise<RunningApp> {
  const extra = listenExtra === "" ? "" : `, ${listenExtra}`;
  const config = parseConfigText(
    `listen: { host: 127.0.0.1, port: 0${extra} }\nadmin: { host: 127.0.0.1, port: 0 }\n${yaml}`,
    env,
  );
  let text = "";
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  const app = createApp(config, { logger: createLogger("debug", sink) });
  const { port, adminPort } = await app.start();
  let stopped = false;
  return {
    app,
    url: `${config.listen.tls === undefined ? "http" : "https"}://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    get logs() {
      return text
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => text,
    async stop() {
      if (stopped) return;
      stopped = true;
      await app.stop();
    },
  };
}

/** Polls until cupbearer reports ready (all JWKS loaded); fails naming the URL after `timeoutMs`. */
export async function waitReady(adminUrl: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    `cupbearer to answer 200 at ${adminUrl}/readyz`,
    async () => {
      const res = await fetch(`${adminUrl}/readyz`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`answered ${res.status}`);
      return true;
    },
    { timeoutMs, intervalMs: 50 },
  );
}

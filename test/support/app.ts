import { Writable } from "node:stream";
import { type App, createApp } from "../../src/app.js";
import { parseConfigText } from "../../src/config/load.js";
import { createLogger } from "../../src/log.js";

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

/** Starts cupbearer in this process on free ports of 127.0.0.1 with the given YAML (listen/admin added). */
export async function startApp(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<RunningApp> {
  const config = parseConfigText(
    `listen: { host: 127.0.0.1, port: 0 }\nadmin: { host: 127.0.0.1, port: 0 }\n${yaml}`,
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
    url: `http://127.0.0.1:${port}`,
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

/** Polls until cupbearer reports ready (all JWKS loaded). */
export async function waitReady(adminUrl: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await fetch(`${adminUrl}/readyz`).catch(() => undefined);
    if (res?.status === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("cupbearer did not become ready");
}

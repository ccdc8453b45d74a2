/**
 * `cupbearer start` and `cupbearer dev` once their config is known: run the proxy until told to
 * stop, reloading a config file when it changes or on SIGHUP.
 */
import type { AppOptions } from "../app.js";
import { loadConfigFile } from "../config/load.js";
import type { Config } from "../config/types.js";
import { watchConfigFile } from "../config/watch.js";

/** Where signals come from: `process` in the bin, an EventEmitter in tests. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: () => void): unknown;
  off(signal: NodeJS.Signals, listener: () => void): unknown;
}

export interface ServeOptions {
  /** Called once both listeners are bound (the dev banner). */
  onListening?: (ports: { port: number; adminPort: number }) => void;
  /** The config file: watched, and reloaded on SIGHUP. */
  file?: string;
}

/**
 * Runs the proxy until SIGTERM or SIGINT, then stops it gracefully (drains) and resolves 0.
 * With a config file, SIGHUP and any change of the file's content reload it.
 */
export async function serve(
  config: Config,
  io: { signals: SignalSource; app?: AppOptions },
  options: ServeOptions = {},
): Promise<number> {
  const { signals } = io;
  const { file } = options;
  // Loaded here, not at the top: --version, --help and check need none of the proxy.
  const { createApp } = await import("../app.js");
  const { loadTracer } = await import("../tracing.js");
  // The OpenTelemetry SDK is loaded only when an OTLP endpoint is set in the environment.
  const tracer = io.app?.tracer ?? (await loadTracer(process.env));
  const app = createApp(config, { ...io.app, tracer });
  const ports = await app.start();
  options.onListening?.(ports);
  const reload = () => void app.reload(() => loadConfigFile(file as string));
  const stopWatching = file === undefined ? () => undefined : watchConfigFile(file, reload);
  if (file !== undefined) signals.on("SIGHUP", reload);
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      signals.off("SIGTERM", onSignal);
      signals.off("SIGINT", onSignal);
      resolve();
    };
    signals.on("SIGTERM", onSignal);
    signals.on("SIGINT", onSignal);
  });
  stopWatching();
  signals.off("SIGHUP", reload);
  await app.stop();
  return 0;
}

import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger };

/**
 * How the process log holds its lines before writing them. With a line per request, one `write`
 * per line costs a syscall (and, asynchronous, a thread-pool round trip) per request: gathering
 * lines makes that one write per few dozen requests.
 */
export interface LogBufferOptions {
  /** Bytes gathered before a write is issued. Below 64 KiB, the most one write carries. */
  minBytes: number;
  /**
   * The most bytes held in memory: lines waiting plus the write in flight. When the output does
   * not keep up (a stalled log reader), a line that would go past this bound is dropped, counted,
   * and the count is logged as a warning once a write goes through again: the proxy never blocks
   * on its log while serving and its memory stays bounded.
   */
  maxBytes: number;
  /** The longest a line waits when traffic is too low to fill `minBytes`. */
  flushIntervalMs: number;
}

/**
 * 48 KiB batches (about 180 access-log lines), at most 4 MiB held, a lone line out within about a
 * second. A write's cost is mostly fixed (syscall and thread-pool round trip): measured per line
 * here, about 2-2.7 µs in 8 KiB writes, 0.9-1.7 µs in 16 KiB ones, 0.4-0.6 µs in 64 KiB ones.
 */
export const LOG_BUFFER_DEFAULTS: Readonly<LogBufferOptions> = {
  minBytes: 48 * 1024,
  maxBytes: 4 * 1024 * 1024,
  flushIntervalMs: 1000,
};

/** A buffered, asynchronous log output on a file descriptor (stdout by default). */
export interface LogDestination extends DestinationStream {
  /**
   * Writes every held line now, synchronously (stop, exit, crash); `cb` then runs (pino's
   * signature). A batch already being written asynchronously may land after these lines.
   */
  flush(cb?: (err?: Error) => void): void;
  /** Lines dropped so far because `maxBytes` were already held. */
  readonly dropped: number;
  /** Flushes, stops the timer and the crash hook; the file descriptor stays open (it is not ours). */
  close(): void;
}

/** The destinations that the crash hook flushes, with the logger that reports the crash on each. */
const crashFlushed = new Map<LogDestination, Logger | undefined>();

/**
 * A fatal error ends the process without the "exit" event (on which pino flushes its destinations):
 * report it on each open log and write out what each holds. A monitor changes nothing else.
 */
function onUncaught(err: Error, origin: string): void {
  for (const [destination, logger] of crashFlushed) {
    logger?.fatal({ err, origin }, "uncaught exception");
    destination.flush();
  }
}

/** On exit, the lines each open log gathers are written before sonic-boom's own exit hook ends it. */
function onExit(): void {
  for (const destination of crashFlushed.keys()) destination.flush();
}

/** The most sonic-boom writes at once (its default is 16 KiB); more than its minLength may be. */
const MAX_WRITE = 64 * 1024;

/** Lines in a batch sonic-boom dropped. */
function lineCount(batch: string): number {
  let n = 0;
  for (let i = batch.indexOf("\n"); i >= 0; i = batch.indexOf("\n", i + 1)) n++;
  return n;
}

/**
 * Lines are gathered here, in a list, and handed to sonic-boom a batch at a time: sonic-boom's own
 * buffering measures its whole buffer's byte length on every write (one string growing line by
 * line), which cost more per access line, in place, than building the line.
 */
class BufferedDestination implements LogDestination {
  private readonly stream: ReturnType<typeof pino.destination>;
  private readonly timer: NodeJS.Timeout;
  private readonly minChars: number;
  private gathered: string[] = [];
  private gatheredChars = 0;
  /** Set by a dropped batch until a write goes through: later, smaller batches must not jump the gap. */
  private dropping = false;
  private unreported = 0;
  private failed = false;
  dropped = 0;
  /** Told how many lines were dropped, once the output takes writes again. */
  onDropsEnded: ((count: number) => void) | undefined;

  constructor(fd: number, options: LogBufferOptions) {
    this.minChars = options.minBytes;
    // Before the stream, so this exit hook runs before the one pino.destination registers.
    crashFlushed.set(this, undefined);
    if (crashFlushed.size === 1) process.on("uncaughtExceptionMonitor", onUncaught).on("exit", onExit);
    // pino.destination registers the exit hook that flushes synchronously, and stops writing on EPIPE.
    // It only holds batches (its minLength just under its maxWrite, so it never starts a
    // write of its own accord); handOff starts each write, so flush() can write what is held
    // synchronously instead of racing a write started a moment before. maxLength bounds it.
    this.stream = pino.destination({
      dest: fd,
      sync: false,
      minLength: MAX_WRITE - 1,
      maxWrite: MAX_WRITE,
      maxLength: options.maxBytes,
    });
    this.stream.on("drop", (batch: string) => this.drop(batch));
    // A failing output (other than EPIPE, where pino stops writing) must not take the proxy down:
    // said once on stderr; the lines held are tried again with the next write.
    this.stream.on("error", (err: Error) => {
      if (this.failed) return;
      this.failed = true;
      process.stderr.write(`cupbearer: log output failed: ${err.message}\n`);
    });
    this.stream.on("write", () => {
      this.dropping = false;
      if (this.unreported === 0) return;
      const count = this.unreported;
      this.unreported = 0;
      this.onDropsEnded?.(count);
    });
    // A batch that traffic too low never fills, or what a write left held, goes out within an
    // interval (an empty write when nothing is held).
    this.timer = setInterval(() => {
      try {
        this.handOff(false);
        this.stream.flush();
      } catch {
        clearInterval(this.timer); // ended by pino's exit hook
      }
    }, options.flushIntervalMs).unref();
  }

  write(line: string): void {
    if (this.dropping) {
      this.dropped++;
      this.unreported++;
      return;
    }
    this.gathered.push(line);
    this.gatheredChars += line.length;
    if (this.gatheredChars >= this.minChars) this.handOff(true);
  }

  /** Gives the gathered lines to sonic-boom as one batch; `start` begins writing what it holds. */
  private handOff(start: boolean): void {
    if (this.gathered.length === 0) return;
    const batch = this.gathered.length === 1 ? (this.gathered[0] as string) : this.gathered.join("");
    this.gathered = [];
    this.gatheredChars = 0;
    this.stream.write(batch);
    if (start) this.stream.flush();
  }

  private drop(batch: string): void {
    const lines = lineCount(batch);
    this.dropping = true;
    this.dropped += lines;
    this.unreported += lines;
  }

  flush(cb?: (err?: Error) => void): void {
    try {
      this.handOff(false);
      this.stream.flushSync();
    } catch (err) {
      cb?.(err as Error);
      return;
    }
    cb?.();
  }

  /** Reports a crash through `logger` before flushing. */
  reportCrashesTo(logger: Logger): void {
    if (crashFlushed.has(this)) crashFlushed.set(this, logger);
  }

  close(): void {
    clearInterval(this.timer);
    if (crashFlushed.delete(this) && crashFlushed.size === 0) {
      process.off("uncaughtExceptionMonitor", onUncaught).off("exit", onExit);
    }
    this.flush();
  }
}

/** Buffered output on `fd` (default stdout), flushed on exit, on a crash and by `flush()`. */
export function createLogDestination(fd = 1, options: Partial<LogBufferOptions> = {}): LogDestination {
  return new BufferedDestination(fd, { ...LOG_BUFFER_DEFAULTS, ...options });
}

const CENSOR = "[redacted]";
/** Keys redacted at the top of a line, by pino's compiled paths (cheap: looked up by key). */
const SECRET_KEYS = ["token", "authorization", "headers"];
/** Keys redacted one level down as well (`{ err: { headers } }`), by `redactNested`. */
const NESTED_SECRET_KEYS: ReadonlyArray<PropertyKey> = ["authorization", "headers"];

/**
 * pino's `*.authorization` and `*.headers` redact paths, done before pino builds the line: pino's
 * wildcard redaction runs on every key of every line (about 2 µs of an access-log line's 3.5 µs),
 * this looks at object values only and copies one only when it holds such a key. The copy keeps
 * the prototype and every own property, an accessor read on the original (on Node 24 an Error's
 * stack is an accessor that only the real error answers), so pino's error serializer shows it as
 * before; `test/log.test.ts` compares the lines with pino's own redaction.
 */
function redactNested(line: Record<string, unknown>): Record<string, unknown> {
  let out = line;
  for (const key in line) {
    const value = line[key];
    if (value === null || typeof value !== "object" || !Object.hasOwn(line, key)) continue;
    if (!NESTED_SECRET_KEYS.some((name) => Object.hasOwn(value, name))) continue;
    const properties = Object.getOwnPropertyDescriptors(value) as Record<PropertyKey, PropertyDescriptor>;
    for (const name of Reflect.ownKeys(properties)) {
      const was = properties[name] as PropertyDescriptor;
      const enumerable = was.enumerable ?? false;
      if (NESTED_SECRET_KEYS.includes(name)) properties[name] = { value: CENSOR, enumerable };
      else if (was.get !== undefined) properties[name] = { value: Reflect.get(value, name), enumerable };
    }
    if (out === line) out = { ...line };
    out[key] = Object.create(Object.getPrototypeOf(value), properties);
  }
  return out;
}

let lastMillisecond = -1;
let lastTime = "";

/**
 * pino's `isoTime`, formatted once per millisecond: under load many lines share one, and
 * `toISOString` was a visible share of an access line's cost.
 */
export function isoTimeOncePerMillisecond(): string {
  const now = Date.now();
  if (now !== lastMillisecond) {
    lastMillisecond = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/** Loggers made by createLogger: their lines' format is known here (see accessLog). */
const ownFormat = new WeakSet<Logger>();

/**
 * One access line's fields: flat, so nothing in it is nested or needs a serializer. A field named
 * like a redacted key still reaches pino's redaction (accessLog).
 */
export type AccessFields = Readonly<Record<string, string | number | boolean | undefined>>;

/** The access log: a line per request or decision, at level info. */
export interface AccessLog {
  /** Whether lines are written now (the level can change on a reload). */
  enabled(): boolean;
  write(fields: AccessFields, msg: string): void;
}

/**
 * The access log on `logger`. For createLogger's loggers the line is built here with one
 * `JSON.stringify` and handed to the destination: the bytes `logger.info(fields, msg)` writes
 * (checked byte for byte in `test/log.test.ts`), without pino's per-key serializing and redaction
 * pass: 1.36 instead of 1.78 µs per line in a loop, and it was the largest single allocator of a
 * cached-token request (docs/benchmark.md). Any other logger gets `logger.info`.
 */
export function accessLog(logger: Logger): AccessLog {
  const enabled = () => logger.isLevelEnabled("info");
  const info = (fields: AccessFields, msg: string) => logger.info(fields, msg);
  const own = logger as unknown as Record<symbol, unknown>;
  const stream = own[pino.symbols.streamSym] as DestinationStream & Record<symbol, unknown>;
  // A destination that takes each line's level and message beside it (pino.multistream) gets pino's.
  if (!ownFormat.has(logger) || stream[pino.symbols.needsMetadataGsym] === true)
    return { enabled, write: info };
  return {
    enabled,
    write(fields, msg) {
      for (const key of SECRET_KEYS) if (key in fields) return info(fields, msg);
      const json = JSON.stringify(fields);
      const body = json.length > 2 ? `,${json.slice(1, -1)}` : "";
      const bindings = own[pino.symbols.chindingsSym] as string;
      stream.write(
        `{"level":"info"${isoTimeOncePerMillisecond()}${bindings}${body},"msg":${JSON.stringify(msg)}}\n`,
      );
    },
  };
}

/**
 * The process logger: JSON lines, by default on stdout through a buffered destination. Nothing that
 * could hold a token (headers, query strings, request bodies) is ever passed to it; the redaction
 * (those keys at the top of a line and one level down) is a second line of defence.
 * `logger.flush()` writes out every held line synchronously.
 */
export function createLogger(
  level: string,
  destination: DestinationStream | NodeJS.WritableStream = createLogDestination(),
): Logger {
  const logger = pino(
    {
      level,
      base: { service: "cupbearer" },
      timestamp: isoTimeOncePerMillisecond,
      formatters: { level: (label) => ({ level: label }), log: redactNested },
      redact: { paths: SECRET_KEYS, censor: CENSOR },
    },
    destination,
  );
  ownFormat.add(logger);
  if (destination instanceof BufferedDestination) {
    destination.reportCrashesTo(logger);
    destination.onDropsEnded = (count) =>
      logger.warn({ droppedLines: count }, "log output too slow: lines dropped");
  }
  return logger;
}

/**
 * The buffered log destination: lines held are written by flush() at once, by the timer when
 * traffic is low, on exit, on a crash and on a graceful stop; what it holds never passes its bound.
 */
import { execFileSync, spawn } from "node:child_process";
import { closeSync, constants, openSync, readFileSync, readSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import t, { type Test } from "tap";
import { request } from "undici";
import { createApp } from "../src/app.js";
import { parseConfigText } from "../src/config/load.js";
import {
  accessLog,
  createLogDestination,
  createLogger,
  isoTimeOncePerMillisecond,
  type LogDestination,
} from "../src/log.js";
import { waitReady } from "./support/app.js";
import { spawnCli } from "./support/cli.js";
import { freePorts } from "./support/emulators.js";
import { startUpstream } from "./support/upstream.js";
import { waitFor } from "./support/wait.js";

const LOG_JS = join(import.meta.dirname, "../dist/src/log.js");

/** Lines of a JSON log, each parsed (a torn or mixed-up line fails the parse). */
function parseLines(text: string): Array<Record<string, unknown>> {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A destination on a new temporary file; closed, then the file, at the test's end. */
async function fileDestination(
  t: Test,
  options: Parameters<typeof createLogDestination>[1],
): Promise<{ path: string; destination: LogDestination }> {
  const path = join(await mkdtemp(join(tmpdir(), "cupbearer-log-")), "out.log");
  const fd = openSync(path, "a");
  const destination = createLogDestination(fd, options);
  t.teardown(() => {
    destination.close();
    closeSync(fd);
  });
  return { path, destination };
}

const accessLines = (lines: Array<Record<string, unknown>>) => lines.filter((l) => l.msg === "request");

t.test(
  "flush() writes every held line before it returns; the timer writes them when traffic is low",
  async (t) => {
    const { path, destination } = await fileDestination(t, { minBytes: 8192, flushIntervalMs: 60_000 });
    const log = createLogger("info", destination);
    for (let i = 0; i < 20; i++) log.info({ i }, "line");
    t.equal(readFileSync(path, "utf8"), "", "20 short lines stay in the buffer");
    log.flush();
    t.same(
      parseLines(readFileSync(path, "utf8")).map((l) => l.i),
      Array.from({ length: 20 }, (_, i) => i),
      "all of them, in order, once flush() returns",
    );

    const timed = await fileDestination(t, { minBytes: 8192, flushIntervalMs: 20 });
    createLogger("info", timed.destination).info("alone");
    const lines = await waitFor("the timer to write a lone line", () => {
      const text = readFileSync(timed.path, "utf8");
      return text === "" ? undefined : parseLines(text);
    });
    t.equal(lines[0]?.msg, "alone");
  },
);

/** A Writable that keeps each chunk written to it, as text. */
function capture(): { lines: string[]; sink: Writable } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, sink };
}

t.test("redaction: the same lines as pino's own redact paths, top level and one level down", async (t) => {
  // The paths cupbearer used to give pino; its wildcard redaction is what createLogger replaced.
  const reference = (sink: Writable) =>
    pino(
      {
        base: { service: "cupbearer" },
        timestamp: false,
        formatters: { level: (label) => ({ level: label }) },
        redact: {
          paths: ["token", "authorization", "headers", "*.authorization", "*.headers"],
          censor: "[redacted]",
        },
      },
      sink,
    );
  const errorWithHeaders = Object.assign(new Error("upstream said no"), {
    code: "E_UP",
    headers: { authorization: "Bearer secret" },
  });
  const hidden = new Error("hidden headers");
  Object.defineProperty(hidden, "headers", { value: { authorization: "Bearer secret" }, enumerable: false });
  const cases: Array<[string, Record<string, unknown>]> = [
    [
      "an access-log line",
      { requestId: "r", route: "api", method: "GET", path: "/x", status: 200, sub: "u" },
    ],
    ["top-level secrets", { token: "t", authorization: "Bearer t", headers: { a: "b" }, keep: 1 }],
    [
      "secrets one level down",
      { req: { url: "/x", headers: { authorization: "t" } }, res: { authorization: "t" } },
    ],
    ["an undefined secret one level down", { req: { headers: undefined, url: "/x" } }],
    ["two levels down: not redacted", { a: { b: { headers: "kept" } } }],
    ["arrays and nulls", { list: [{ headers: "in an array" }], none: null, n: 1 }],
    ["an error carrying headers", { err: errorWithHeaders }],
    ["an error with non-enumerable headers", { err: hidden }],
    [
      "an error with a cause, under another key",
      { failure: Object.assign(new Error("outer", { cause: errorWithHeaders }), { headers: "h" }) },
    ],
    [
      "an own getter beside the secret",
      { res: Object.defineProperties({ headers: "h" }, { status: { get: () => 502, enumerable: true } }) },
    ],
  ];
  for (const [name, line] of cases) {
    const ours = capture();
    const theirs = capture();
    const log = createLogger("info", ours.sink);
    log.info(line, name);
    reference(theirs.sink).info(line, name);
    const parse = (text: string | undefined) => {
      const { time: _time, ...rest } = JSON.parse(text ?? "{}") as Record<string, unknown>;
      return rest;
    };
    t.same(parse(ours.lines[0]), parse(theirs.lines[0]), name);
    t.notMatch(ours.lines[0], /Bearer|"t"/, `${name}: no secret in the line`);
  }
  t.equal(errorWithHeaders.headers.authorization, "Bearer secret", "the caller's object is left as it was");
});

t.test("access lines: the bytes logger.info writes, for every kind of field value", async (t) => {
  const random = (n: number) =>
    Array.from({ length: n }, () => String.fromCharCode(Math.floor(Math.random() * 0x3000))).join("");
  const cases: Array<[string, Record<string, string | number | boolean | undefined>]> = [
    [
      "a request",
      {
        requestId: "4f1c",
        traceId: "0af7651916cd43dd8448eb211c80319c",
        route: "api",
        method: "GET",
        path: "/x",
        status: 200,
        durationMs: 1.3,
        sub: "u",
        issuer: "pool",
      },
    ],
    ["undefined fields are left out", { route: "api", sub: undefined, status: 401, issuer: undefined }],
    ["quotes, backslashes and controls", { path: '/a"b\\c\u0000\u001f\t\n', detail: "x\u007f" }],
    ["non-ASCII and U+2028", { sub: "é漢字\u2028\u2029", path: "/ü" }],
    ["numbers and booleans", { a: 0, b: -1.5, c: 1e21, d: 5e-7, e: Number.NaN, f: true, g: false }],
    ["no fields", {}],
    ["a field named like a secret goes through the redaction", { route: "api", token: "secret" }],
    ["random text", { path: random(200), sub: random(40) }],
  ];
  for (const [name, fields] of cases) {
    const ours = capture();
    const theirs = capture();
    accessLog(createLogger("info", ours.sink)).write(fields, name);
    createLogger("info", theirs.sink).info(fields, name);
    // The time is the one thing the two lines may not share (a millisecond can pass between them).
    const untimed = (line: string | undefined) => (line ?? "").replace(/,"time":"[^"]*"/, "");
    t.equal(ours.lines.length, 1, `${name}: one line`);
    t.equal(untimed(ours.lines[0]), untimed(theirs.lines[0]), name);
    t.match(ours.lines[0], /^\{"level":"info","time":"\d{4}-\d\d-\d\dT[^"]+Z","service":"cupbearer"/, name);
  }
  // A claim may hold a lone surrogate ("\ud800" in the token's JSON): pino writes it raw, which
  // the UTF-8 output turns into U+FFFD; the access line escapes it, so the value reads back as sent.
  const surrogate = capture();
  accessLog(createLogger("info", surrogate.sink)).write({ sub: "a\ud800b\udfff" }, "line");
  t.match(surrogate.lines[0], /"sub":"a\\ud800b\\udfff"/, "a lone surrogate is escaped");
  t.equal(JSON.parse(surrogate.lines[0] ?? "{}").sub, "a\ud800b\udfff", "and reads back as it was");

  const secret = capture();
  accessLog(createLogger("info", secret.sink)).write({ route: "api", token: "secret" }, "line");
  t.notMatch(secret.lines[0], /secret/, "a redacted key is redacted on this path too");

  const quiet = capture();
  const log = createLogger("warn", quiet.sink);
  t.equal(accessLog(log).enabled(), false, "not enabled above info");
  log.level = "info";
  t.equal(accessLog(log).enabled(), true, "enabled once the level comes down (a reload)");

  // A destination that reads each line's level beside it (a multistream) is given pino's own line.
  const multi = capture();
  accessLog(createLogger("info", pino.multistream([{ stream: multi.sink, level: "info" }]))).write(
    { route: "api" },
    "request",
  );
  t.match(JSON.parse(multi.lines[0] ?? "{}"), { level: "info", route: "api", msg: "request" }, "multistream");

  // A logger cupbearer did not make (an embedder's) gets its own info line.
  const foreign = capture();
  accessLog(pino({ base: null, timestamp: false }, foreign.sink)).write({ route: "api" }, "request");
  t.same(
    JSON.parse(foreign.lines[0] ?? "{}"),
    { level: 30, route: "api", msg: "request" },
    "pino's own line",
  );
});

t.test(
  "a stalled output: held bytes stay within maxBytes, the rest is dropped, counted and reported",
  async (t) => {
    // A FIFO whose reader does not read: once the pipe is full, every write gets EAGAIN.
    const dir = await mkdtemp(join(tmpdir(), "cupbearer-log-"));
    const fifo = join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    // Larger than the pipe (64 KiB): the writes past it wait for the reader (EAGAIN, retried).
    const maxBytes = 256 * 1024;
    const destination = createLogDestination(writer, { minBytes: 1024, maxBytes, flushIntervalMs: 20 });
    t.teardown(() => {
      destination.close();
      closeSync(writer);
      closeSync(reader);
    });
    const log = createLogger("info", destination);

    // Written in one go: no write completes before this loop ends, so every line kept is held at once.
    const sent = 5000;
    for (let i = 0; i < sent; i++) log.info({ i, pad: "x".repeat(100) }, "request");
    const kept = sent - destination.dropped;
    t.ok(destination.dropped > 0, `lines dropped once the buffer was full (${destination.dropped})`);

    // The reader wakes up: every kept line arrives whole and in order, then the drop notice.
    let text = "";
    const chunk = Buffer.alloc(65536);
    const lines = await waitFor(
      "every kept line and the drop notice",
      () => {
        for (;;) {
          let n = 0;
          try {
            n = readSync(reader, chunk);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
          }
          if (n <= 0) break;
          text += chunk.toString("utf8", 0, n);
        }
        const parsed = parseLines(text.slice(0, text.lastIndexOf("\n") + 1));
        return parsed.some((l) => l.droppedLines !== undefined) ? parsed : undefined;
      },
      { timeoutMs: 10_000 },
    );
    const requests = accessLines(lines);
    t.equal(requests.length, kept, "every kept line was written");
    const heldBytes = Buffer.byteLength(text.split("\n").slice(0, kept).join("\n")) + 1;
    t.ok(heldBytes <= maxBytes, `the ${kept} lines kept were ${heldBytes} bytes: within maxBytes`);
    // Lines go to the output in batches of minBytes (1 KiB here): the bound is met within one batch.
    t.ok(heldBytes > maxBytes - 1024 - 512, "and lines were dropped only once the bound was reached");
    t.same(
      requests.map((l) => l.i),
      Array.from({ length: kept }, (_, i) => i),
      "the first lines, in order: the newest are the ones dropped",
    );
    const notices = lines.filter((l) => l.droppedLines !== undefined);
    t.equal(notices[0]?.level, "warn");
    t.equal(
      notices.reduce((sum, l) => sum + (l.droppedLines as number), 0),
      destination.dropped,
      "the warning counts every dropped line",
    );
  },
);

t.test("a process that exits or crashes writes out what its log held", async (t) => {
  const cases = [
    { name: "process.exit", end: "process.exit(3)", code: 3 },
    { name: "uncaught exception", end: "setImmediate(() => { throw new Error('boom'); })", code: 1 },
    { name: "unhandled rejection", end: "void Promise.reject(new Error('boom'))", code: 1 },
  ];
  for (const c of cases) {
    const script = `import { createLogger } from ${JSON.stringify(LOG_JS)};
const log = createLogger("info");
for (let i = 0; i < 50; i++) log.info({ i }, "request");
${c.end};`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.resume();
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    t.equal(code, c.code, `${c.name}: exit code`);
    const lines = parseLines(stdout);
    t.equal(accessLines(lines).length, 50, `${c.name}: all 50 lines written`);
    if (c.code === 1) {
      t.match(lines.at(-1), { level: "fatal", msg: "uncaught exception", err: { message: "boom" } });
    }
  }
});

t.test("app.stop() writes out every held access-log line before it resolves", async (t) => {
  const up = await startUpstream();
  t.teardown(() => up.close());
  const { path, destination } = await fileDestination(t, { flushIntervalMs: 60_000 });
  const config = parseConfigText(
    `listen: { host: 127.0.0.1, port: 0 }\nadmin: { host: 127.0.0.1, port: 0 }\nroutes:\n  - { id: a, upstream: "${up.url}", auth: { mode: public } }\n`,
  );
  const app = createApp(config, { logger: createLogger("info", destination) });
  const { port } = await app.start();
  // Fewer bytes than one batch: until the stop's flush, every line is held.
  const sent = 20;
  for (let i = 0; i < sent; i++) await (await request(`http://127.0.0.1:${port}/r${i}`)).body.dump();
  t.equal(accessLines(parseLines(readFileSync(path, "utf8"))).length, 0, "held while running");
  await app.stop();
  t.same(
    accessLines(parseLines(readFileSync(path, "utf8"))).map((l) => l.path),
    Array.from({ length: sent }, (_, i) => `/r${i}`),
    "all written, in order, when stop() resolves",
  );
});

t.test("a graceful stop (SIGTERM) of the process loses no access-log line", async (t) => {
  const up = await startUpstream();
  t.teardown(() => up.close());
  const [port, adminPort] = await freePorts(2);
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-log-"));
  const file = join(dir, "config.yaml");
  await writeFile(
    file,
    `listen: { host: 127.0.0.1, port: ${port} }\nadmin: { host: 127.0.0.1, port: ${adminPort} }\nroutes:\n  - { id: a, upstream: "${up.url}", auth: { mode: public } }\n`,
  );
  const cli = spawnCli(t, ["--config", file]);
  await waitReady(`http://127.0.0.1:${adminPort}`, 20_000);
  const sent = 20;
  for (let i = 0; i < sent; i++) await (await request(`http://127.0.0.1:${port}/r${i}`)).body.dump();
  cli.signal("SIGTERM");
  t.equal(await cli.exited, 0);
  t.same(
    accessLines(parseLines(cli.stdout())).map((l) => l.path),
    Array.from({ length: sent }, (_, i) => `/r${i}`),
    "one access-log line per request, in order",
  );
});

t.test("timestamps: pino's isoTime, formatted once per millisecond", async (t) => {
  const before = Date.now();
  const first = isoTimeOncePerMillisecond();
  const match = /^,"time":"(.+)"$/.exec(first);
  t.ok(match, "pino's timestamp fragment");
  const at = Date.parse(match?.[1] ?? "");
  t.ok(at >= before && at <= Date.now(), "the current time");
  t.equal(first, pino.stdTimeFunctions.isoTime().replace(/"time":"[^"]+"/, `"time":"${match?.[1]}"`));
  const start = Date.now();
  while (Date.now() === start) {
    // wait for the next millisecond
  }
  const next = isoTimeOncePerMillisecond();
  t.not(next, first, "a new millisecond, a new string");
  t.ok(Date.parse(/"time":"(.+)"/.exec(next)?.[1] ?? "") > at);
});

import { randomBytes } from "node:crypto";
import t from "tap";
import { traceContext } from "../../src/core/trace.js";

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

t.test("a valid traceparent is kept as it came", async (t) => {
  t.strictSame(traceContext(VALID, hex), {
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    traceparent: VALID,
    started: false,
  });
  // A later version may carry more fields after a dash: kept, read as version 00.
  const future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
  t.strictSame(traceContext(future, hex), {
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    traceparent: future,
    started: false,
  });
});

t.test("absent or invalid: a new trace is started", async (t) => {
  const invalid = [
    undefined,
    "",
    VALID.toUpperCase(),
    `${VALID}-extra`, // version 00 is exactly 55 characters
    `${VALID}x`,
    "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
    VALID.replace(/^00/, "ff"),
    VALID.replace("4bf92f3577b34da6a3ce929d0e0e4736", "0".repeat(32)),
    VALID.replace("00f067aa0ba902b7", "0".repeat(16)),
    VALID.replace("-01", "_01"),
    VALID.replace(/^00-/, "00_"),
    VALID.replace("-00f0", "_00f0"),
    VALID.replace("4bf9", "4bg9"),
    VALID.slice(0, 54),
    `${VALID}, ${VALID}`, // two headers, joined by Node
    [VALID, VALID],
  ];
  for (const header of invalid) {
    const trace = traceContext(header, hex);
    t.equal(trace.started, true, JSON.stringify(header));
    t.match(trace.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    t.equal(trace.traceparent.slice(3, 35), trace.traceId);
  }
  const a = traceContext(undefined, hex);
  const b = traceContext(undefined, hex);
  t.not(a.traceId, b.traceId, "a new id each time");
});

t.test("ids that would be invalid are drawn again", async (t) => {
  const draws = [
    "0".repeat(32),
    "not hex",
    "ab",
    "A".repeat(32),
    "1".repeat(32),
    "0".repeat(16),
    "2".repeat(16),
  ];
  const asked: number[] = [];
  const trace = traceContext(undefined, (bytes) => {
    asked.push(bytes);
    return draws.shift() as string;
  });
  t.equal(trace.traceparent, `00-${"1".repeat(32)}-${"2".repeat(16)}-00`);
  t.strictSame(asked, [16, 16, 16, 16, 16, 8, 8], "16 bytes for the trace id, 8 for the parent id");
});

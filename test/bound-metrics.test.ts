/**
 * The bound metrics against prom-client's own Histogram and Counter: the same observations give
 * the same exposition text and the same JSON, so scrapers and dashboards see no difference.
 */
import { deepEqual } from "node:assert/strict";
import fc from "fast-check";
import { Counter, Histogram, Registry } from "prom-client";
import t from "tap";
import { BoundCounter, BoundHistogram } from "../src/bound-metrics.js";

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function pair() {
  const theirs = new Registry();
  const ours = new Registry();
  return {
    theirs,
    ours,
    histogram: {
      theirs: new Histogram({
        name: "h_seconds",
        help: "h.",
        labelNames: ["route"],
        buckets: BUCKETS,
        registers: [theirs],
      }),
      ours: new BoundHistogram("h_seconds", "h.", ["route"], BUCKETS, ours),
    },
    counter: {
      theirs: new Counter({
        name: "c_total",
        help: "c.",
        labelNames: ["route", "status"],
        registers: [theirs],
      }),
      ours: new BoundCounter("c_total", "c.", ["route", "status"], ours),
    },
  };
}

t.test("the same lines and JSON as prom-client for any observations", async (t) => {
  const observation = fc.record({
    route: fc.constantFrom("api", "s3", "a-b"),
    status: fc.constantFrom("200", "403", "502"),
    // Bucket edges exactly, between them, zero and past the last.
    value: fc.oneof(fc.constantFrom(0, ...BUCKETS, 11), fc.double({ min: 0, max: 20, noNaN: true })),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(observation, { maxLength: 40 }), async (list) => {
      const m = pair();
      for (const { route, status, value } of list) {
        m.histogram.theirs.labels({ route }).observe(value);
        m.histogram.ours.labels({ route }).observe(value);
        m.counter.theirs.labels({ route, status }).inc();
        m.counter.ours.labels({ route, status }).inc();
      }
      const [a, b] = [await m.theirs.metrics(), await m.ours.metrics()];
      if (a !== b) throw new Error(`text differs:\n${a}\n---\n${b}`);
      const [ja, jb] = [await m.theirs.getMetricsAsJSON(), await m.ours.getMetricsAsJSON()];
      deepEqual(jb, ja);
    }),
    { numRuns: 200 },
  );
  t.pass("200 random sets of observations compared");
});

t.test("a child is bound once and reset keeps it bound", async (t) => {
  const m = pair();
  const child = m.histogram.ours.labels({ route: "api" });
  t.equal(m.histogram.ours.labels({ route: "api" }), child, "the same child for the same labels");
  child.observe(0.002);
  m.ours.resetMetrics();
  child.observe(0.02);
  m.histogram.theirs.labels({ route: "api" }).observe(0.02);
  t.equal(
    await m.ours.getSingleMetricAsString("h_seconds"),
    await m.theirs.getSingleMetricAsString("h_seconds"),
  );
  const counter = m.counter.ours.labels({ route: "api", status: "200" });
  counter.inc(2);
  m.ours.resetMetrics();
  t.equal(counter.value, 0, "reset zeroes a bound counter");
});

t.test("refused input, as prom-client refuses it", async (t) => {
  const m = pair();
  t.throws(() => m.histogram.ours.labels({}), /label route missing/);
  t.throws(() => m.histogram.ours.labels({ route: "api" }).observe(Number.NaN), TypeError);
  t.throws(() => m.counter.ours.labels({ route: "api", status: "200" }).inc(-1), /decrease/);
});

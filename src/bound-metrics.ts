import type { Registry } from "prom-client";

/** A label set's key; every declared label must be given. */
function childKey(
  metric: string,
  names: readonly string[],
  labels: Readonly<Record<string, string>>,
): string {
  return names
    .map((name) => {
      const value = labels[name];
      if (value === undefined) throw new Error(`label ${name} missing for ${metric}`);
      return value;
    })
    .join("\u0000");
}

/** One label set's observations: a bucket search and three additions per observe. */
export class HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const { bounds } = this;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        this.counts[i] = (this.counts[i] as number) + 1;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

interface ExportedValue {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  exemplar?: null | undefined;
}

/**
 * A Prometheus histogram whose children are bound once, registered in and exposed by prom-client's
 * registry in exactly the lines prom-client's own Histogram writes (test/bound-histogram.test.ts
 * compares the two). Why not prom-client's: its bound child validates and hashes its labels again
 * on every observe (about 0.3 µs, twice per request on the request path).
 */
export class BoundHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly #children = new Map<string, HistogramChild>();
  readonly #bounds: readonly number[];

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    buckets: readonly number[],
    registry: Registry,
  ) {
    this.#bounds = [...buckets].sort((a, b) => a - b);
    registry.registerMetric(this as unknown as Parameters<Registry["registerMetric"]>[0]);
  }

  /** The child of one label set, the same object on every call (bind it once, observe often). */
  labels(labels: Readonly<Record<string, string>>): HistogramChild {
    const key = childKey(this.name, this.labelNames, labels);
    let child = this.#children.get(key);
    if (child === undefined) {
      child = new HistogramChild({ ...labels }, this.#bounds);
      this.#children.set(key, child);
    }
    return child;
  }

  /** What prom-client's registry formats as text: `le` apart from the child's own labels. */
  async getForPromString() {
    const values: ExportedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const child of this.#children.values()) {
      let cumulative = 0;
      this.#bounds.forEach((le, i) => {
        cumulative += child.counts[i] as number;
        values.push({
          labels: { le },
          sharedLabels: child.labels,
          value: cumulative,
          metricName: bucket,
          exemplar: null,
        });
      });
      values.push(
        {
          labels: { le: "+Inf" },
          sharedLabels: child.labels,
          value: child.count,
          metricName: bucket,
          exemplar: null,
        },
        {
          labels: {},
          sharedLabels: child.labels,
          value: child.sum,
          metricName: `${this.name}_sum`,
          exemplar: undefined,
        },
        {
          labels: {},
          sharedLabels: child.labels,
          value: child.count,
          metricName: `${this.name}_count`,
          exemplar: undefined,
        },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The JSON form (prom-client's `get()`): every label in one object. */
  async get() {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ labels, sharedLabels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }

  /** Zeroes every child (children stay bound: routes hold them). */
  reset(): void {
    for (const child of this.#children.values()) {
      child.counts.fill(0);
      child.sum = 0;
      child.count = 0;
    }
  }
}

/** One label set's count. */
export class CounterChild {
  value = 0;

  constructor(readonly labels: Readonly<Record<string, string>>) {}

  inc(by = 1): void {
    if (!(by >= 0) || !Number.isFinite(by)) throw new Error("It is not possible to decrease a counter");
    this.value += by;
  }
}

/** A Prometheus counter with children bound once, like BoundHistogram, in prom-client's Counter's lines. */
export class BoundCounter {
  readonly type = "counter";
  readonly aggregator = "sum";
  readonly #children = new Map<string, CounterChild>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry["registerMetric"]>[0]);
  }

  labels(labels: Readonly<Record<string, string>>): CounterChild {
    const key = childKey(this.name, this.labelNames, labels);
    let child = this.#children.get(key);
    if (child === undefined) {
      child = new CounterChild({ ...labels });
      this.#children.set(key, child);
    }
    return child;
  }

  async get() {
    const values = [...this.#children.values()].map((c) => ({ value: c.value, labels: c.labels }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    for (const child of this.#children.values()) child.value = 0;
  }
}

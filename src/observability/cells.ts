// Counters and histograms for the request path: each series is a cell bound to its label values
// once, and counting is plain arithmetic on it. prom-client's `inc` and `observe` take a labels
// object on every call, validate it, build a string key from it and look that up, and a
// histogram's `observe` converts its bucket's bound to a property name: about 1 µs each, 4–6 µs
// of a read that counts itself, its statements and its cache lookups (bench/README.md). The
// cells are registered with prom-client's registry as metrics of their own, so /metrics prints
// them exactly as prom-client's would: the same names, types, labels and lines.
import type { Metric, Registry } from 'prom-client';

/** A counter's series, bound to its label values. */
export interface CounterCell {
  /** Adds `by` (1 when omitted; a count, so never negative). */
  inc(by?: number): void;
}

/** A histogram's series, bound to its label values. */
export interface HistogramCell {
  observe(value: number): void;
}

interface Options {
  name: string;
  help: string;
  labelNames?: readonly string[];
  registers: readonly Registry[];
}

/** What prom-client's registry reads from a metric (`get`), as its own metrics return it. */
interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
  sharedLabels?: Record<string, string>;
}

interface Collected {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: MetricValue[];
  aggregator: 'sum';
}

/**
 * The series of one metric, found by their label values through one map per label: a lookup is
 * a few `Map.get`s on strings whose hashes V8 keeps, and allocates nothing.
 */
abstract class Cells<Cell extends CounterCell | HistogramCell> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum' as const;
  readonly labelNames: readonly string[];
  readonly #root = new Map<string, unknown>();
  /** Each series with its labels, in the order they were first used. */
  protected readonly series: { labels: Record<string, string>; cell: Cell }[] = [];

  constructor(options: Options) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames ?? [];
    if (this.labelNames.length > 3) throw new Error(`${this.name}: at most three labels`);
    // The registry asks a metric for nothing else than its name, `get` and `reset`.
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** The series of these label values (as many as the metric has labels), created at first use at zero. */
  cell(a?: string, b?: string, c?: string): Cell {
    const depth = this.labelNames.length;
    let found: unknown;
    if (depth === 0) found = this.#root.get('');
    else if (depth === 1) found = this.#root.get(a!);
    else {
      const second = this.#root.get(a!) as Map<string, unknown> | undefined;
      found = depth === 2 ? second?.get(b!) : (second?.get(b!) as Map<string, unknown> | undefined)?.get(c!);
    }
    return (found as Cell | undefined) ?? this.#create([a, b, c].slice(0, depth));
  }

  #create(values: (string | undefined)[]): Cell {
    const labels: Record<string, string> = {};
    this.labelNames.forEach((label, i) => {
      const value = values[i];
      if (typeof value !== 'string') throw new TypeError(`${this.name}: label ${label} needs a value`);
      labels[label] = value;
    });
    const cell = this.blank();
    this.series.push({ labels, cell });
    if (this.labelNames.length === 0) {
      this.#root.set('', cell);
      return cell;
    }
    let level = this.#root;
    for (let i = 0; i < this.labelNames.length - 1; i++) {
      const value = values[i]!;
      let next = level.get(value) as Map<string, unknown> | undefined;
      if (!next) level.set(value, (next = new Map()));
      level = next;
    }
    level.set(values[this.labelNames.length - 1]!, cell);
    return cell;
  }

  protected abstract blank(): Cell;

  /** Sets every series back to zero; the cells callers hold stay bound. */
  abstract reset(): void;

  abstract get(): Promise<Collected>;
}

class Tally implements CounterCell {
  value = 0;
  inc(by = 1): void {
    if (!Number.isFinite(by) || by < 0) throw new RangeError(`a counter counts up by a finite amount, not ${by}`);
    this.value += by;
  }
}

export class CounterCells extends Cells<Tally> {
  readonly type = 'counter' as const;

  constructor(options: Options) {
    super(options);
    // A counter without labels has its one series from the start, as prom-client's has.
    if (this.labelNames.length === 0) this.cell();
  }

  protected blank(): Tally {
    return new Tally();
  }

  reset(): void {
    for (const { cell } of this.series) cell.value = 0;
  }

  async get(): Promise<Collected> {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values: this.series.map(({ labels, cell }) => ({ value: cell.value, labels })),
      aggregator: this.aggregator,
    };
  }
}

class Buckets implements HistogramCell {
  /** Observations per bucket (not cumulative); the last one is past every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  readonly #bounds: Float64Array;

  constructor(bounds: Float64Array) {
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`not a number to observe: ${value}`);
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class HistogramCells extends Cells<Buckets> {
  readonly type = 'histogram' as const;
  readonly #bounds: Float64Array;
  readonly #upperBounds: readonly number[];

  constructor(options: Options & { buckets: readonly number[] }) {
    super(options);
    if (this.labelNames.includes('le')) throw new Error('le is a reserved label name');
    const buckets = [...options.buckets].sort((x, y) => x - y);
    this.#upperBounds = buckets;
    this.#bounds = Float64Array.from(buckets);
  }

  protected blank(): Buckets {
    return new Buckets(this.#bounds);
  }

  reset(): void {
    for (const { cell } of this.series) {
      cell.counts.fill(0);
      cell.sum = 0;
      cell.count = 0;
    }
  }

  /** As prom-client's Histogram gives them: each bucket's cumulative count, then +Inf, sum and count. */
  async get(): Promise<Collected> {
    const bucketName = `${this.name}_bucket`;
    const values: MetricValue[] = [];
    for (const { labels, cell: buckets } of this.series) {
      let cumulative = 0;
      this.#upperBounds.forEach((le, i) => {
        cumulative += buckets.counts[i]!;
        values.push({ labels: { le }, sharedLabels: labels, value: cumulative, metricName: bucketName });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: labels, value: buckets.count, metricName: bucketName },
        { labels: {}, sharedLabels: labels, value: buckets.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: labels, value: buckets.count, metricName: `${this.name}_count` },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

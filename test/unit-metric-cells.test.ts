// The request path's counters and histograms (src/observability/cells.ts) against prom-client's
// own: fed the same events, a registry prints the same /metrics text for either, byte for byte.
import t from 'tap';
import { Counter, Histogram, Registry } from 'prom-client';
import { CounterCells, HistogramCells } from '../src/observability/cells.ts';
import { LATENCY_BUCKETS, statusClass } from '../src/observability/metrics.ts';

/** Two registries, one with prom-client's metric and one with the cells, to compare. */
function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  return { ours, theirs, text: async () => [await ours.metrics(), await theirs.metrics()] as const };
}

t.test('a counter with labels prints as prom-client prints it, series in first-use order', async (t) => {
  const { ours, theirs, text } = pair();
  const labelNames = ['operation', 'method', 'status_class'] as const;
  const cells = new CounterCells({ name: 'x_requests_total', help: 'Requests, by "operation" \\ method.', labelNames, registers: [ours] });
  const counter = new Counter({ name: 'x_requests_total', help: 'Requests, by "operation" \\ method.', labelNames, registers: [theirs] });

  const events: [string, string, string, number?][] = [
    ['getPost', 'GET', '2xx'],
    ['getPost', 'GET', '2xx'],
    ['createPost', 'POST', '4xx', 3],
    ['getPost', 'GET', '5xx'],
    ['weird"op\nname', 'GET', '2xx', 0],
    ['createPost', 'POST', '2xx', 2.5],
  ];
  for (const [operation, method, status_class, by] of events) {
    cells.cell(operation, method, status_class).inc(by);
    counter.inc({ operation, method, status_class }, by);
  }
  const [a, b] = await text();
  t.equal(a, b);
  t.match(a, /x_requests_total\{operation="getPost",method="GET",status_class="2xx"\} 2\n/);
  t.match(a, /x_requests_total\{operation="createPost",method="POST",status_class="4xx"\} 3\n/);
  t.match(a, /operation="weird\\"op\\nname"/, 'label values escaped');
});

t.test('a cell is bound once: the same object for the same labels, a different one for others', async (t) => {
  const cells = new CounterCells({ name: 'x_total', help: 'x', labelNames: ['a', 'b'], registers: [] });
  const one = cells.cell('p', 'q');
  t.equal(cells.cell('p', 'q'), one);
  t.not(cells.cell('p', 'r'), one);
  t.not(cells.cell('q', 'p'), one);
  one.inc();
  one.inc(4);
  t.same((await cells.get()).values, [
    { value: 5, labels: { a: 'p', b: 'q' } },
    { value: 0, labels: { a: 'p', b: 'r' } },
    { value: 0, labels: { a: 'q', b: 'p' } },
  ]);
});

t.test('a counter refuses to count down or by what is not a number, and needs every label', async (t) => {
  const cells = new CounterCells({ name: 'x_total', help: 'x', labelNames: ['a', 'b'], registers: [] });
  const cell = cells.cell('p', 'q');
  t.throws(() => cell.inc(-1), RangeError);
  t.throws(() => cell.inc(Number.NaN), RangeError);
  t.throws(() => cell.inc(Infinity), RangeError);
  t.throws(() => cells.cell('p'), TypeError);
  t.same((await cells.get()).values, [{ value: 0, labels: { a: 'p', b: 'q' } }], 'nothing was counted');
  t.throws(() => new CounterCells({ name: 'y_total', help: 'y', labelNames: ['a', 'b', 'c', 'd'], registers: [] }));
});

t.test('a counter without labels has its series from the start', async (t) => {
  const { ours, theirs, text } = pair();
  const cells = new CounterCells({ name: 'x_total', help: 'x', registers: [ours] });
  new Counter({ name: 'x_total', help: 'x', registers: [theirs] });
  const [before, expected] = await text();
  t.equal(before, expected);
  cells.cell().inc(2);
  t.match(await ours.metrics(), /^x_total 2$/m);
});

t.test('a histogram prints its buckets, sum and count as prom-client does, bounds included', async (t) => {
  const { ours, theirs, text } = pair();
  const options = { name: 'x_duration_seconds', help: 'Time.', labelNames: ['operation'] as const, buckets: LATENCY_BUCKETS };
  const cells = new HistogramCells({ ...options, registers: [ours] });
  const histogram = new Histogram({ ...options, registers: [theirs] });

  // Every bound exactly (a value equal to a bound is in its bucket), between them, past the last, and zero.
  const values = [0, ...LATENCY_BUCKETS, 0.0011, 0.003, 0.7, 9.99, 10.01, 123, 0.0004];
  for (const [i, value] of values.entries()) {
    const operation = i % 3 === 0 ? 'getPost' : 'listFeed';
    cells.cell(operation).observe(value);
    histogram.observe({ operation }, value);
  }
  const [a, b] = await text();
  t.equal(a, b);
  t.match(a, /x_duration_seconds_bucket\{le="0.001",operation="getPost"\} \d+\n/);
  t.match(a, /x_duration_seconds_count\{operation="listFeed"\} \d+/);
});

t.test('a histogram with two labels and buckets given out of order', async (t) => {
  const { ours, theirs, text } = pair();
  const options = { name: 'x_seconds', help: 'Time.', labelNames: ['target', 'operation'] as const, buckets: [1, 0.1, 0.5] };
  const cells = new HistogramCells({ ...options, registers: [ours] });
  const histogram = new Histogram({ ...options, buckets: [0.1, 0.5, 1], registers: [theirs] });
  for (const [target, operation, value] of [
    ['posts', 'getPost', 0.05],
    ['posts', 'getPost', 0.5],
    ['social', 'areFriends', 2],
    ['posts', 'listPosts', 0.2],
  ] as const) {
    cells.cell(target, operation).observe(value);
    histogram.observe({ target, operation }, value);
  }
  const [a, b] = await text();
  t.equal(a, b);
});

t.test('a histogram refuses what is not a finite number, and the reserved label', async (t) => {
  const cells = new HistogramCells({ name: 'x_seconds', help: 'x', labelNames: ['operation'], buckets: [1], registers: [] });
  for (const value of [Number.NaN, Infinity, -Infinity]) t.throws(() => cells.cell('a').observe(value), TypeError);
  const { values } = await cells.get();
  t.same(
    values.map((v) => v.value),
    [0, 0, 0, 0],
    'nothing was observed',
  );
  t.throws(() => new HistogramCells({ name: 'y', help: 'y', labelNames: ['le'], buckets: [1], registers: [] }));
});

t.test('a reset sets the series to zero and the cells held stay bound', async (t) => {
  const { ours, theirs, text } = pair();
  const counter = new CounterCells({ name: 'x_total', help: 'x', labelNames: ['a'], registers: [ours] });
  const histogram = new HistogramCells({ name: 'x_seconds', help: 'x', labelNames: ['a'], buckets: [1], registers: [ours] });
  const count = counter.cell('p');
  const time = histogram.cell('p');
  count.inc(3);
  time.observe(0.5);
  ours.resetMetrics();
  count.inc();
  time.observe(2);
  new Counter({ name: 'x_total', help: 'x', labelNames: ['a'], registers: [theirs] }).inc({ a: 'p' });
  new Histogram({ name: 'x_seconds', help: 'x', labelNames: ['a'], buckets: [1], registers: [theirs] }).observe({ a: 'p' }, 2);
  const [a, b] = await text();
  t.equal(a, b);
});

t.test('a status class is the same string each time, for any status', async (t) => {
  t.equal(statusClass(204), '2xx');
  t.equal(statusClass(100), '1xx');
  t.equal(statusClass(599), '5xx');
  t.equal(statusClass(304), '3xx');
  t.equal(statusClass(429), '4xx');
  t.equal(statusClass(99), 'other');
  t.equal(statusClass(600), 'other');
});

// Reads /metrics as Prometheus would: parse-prometheus-text-format turns the text format into
// metric families; the helpers below pick samples out by name and labels.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

export interface MetricSample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: MetricSample[];
}

export function parseMetrics(text: string): MetricFamily[] {
  return (parsePrometheusTextFormat as unknown as (text: string) => MetricFamily[])(text);
}

export function family(families: MetricFamily[], name: string): MetricFamily | undefined {
  return families.find((f) => f.name === name);
}

function matches(sample: MetricSample, labels: Record<string, string>): boolean {
  return Object.entries(labels).every(([k, v]) => sample.labels?.[k] === v);
}

/** The sum of a counter's or gauge's samples whose labels include `labels`. */
export function total(families: MetricFamily[], name: string, labels: Record<string, string> = {}): number {
  const found = family(families, name);
  if (!found) throw new Error(`no metric ${name} in the scrape`);
  return found.metrics.filter((s) => matches(s, labels)).reduce((sum, s) => sum + Number(s.value), 0);
}

/** A histogram's total count (number of observations) over samples whose labels include `labels`. */
export function observations(families: MetricFamily[], name: string, labels: Record<string, string> = {}): number {
  const found = family(families, name);
  if (!found || found.type !== 'HISTOGRAM') throw new Error(`no histogram ${name} in the scrape`);
  return found.metrics.filter((s) => matches(s, labels)).reduce((sum, s) => sum + Number(s.count), 0);
}

/** The difference between two scrapes of the same counter. */
export function delta(before: MetricFamily[], after: MetricFamily[], name: string, labels: Record<string, string> = {}): number {
  const was = family(before, name) ? total(before, name, labels) : 0;
  return total(after, name, labels) - was;
}

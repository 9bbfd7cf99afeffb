// The package ships no types; its one export parses Prometheus's text exposition format.
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}

// What statistics and chart data look like: computed here (stats.ts, chart.ts) and sent as they
// are to the webview (src/toolsProtocol.ts names them StatsSnapshot and ChartSnapshot), so the
// shape is written once. Types only: the webview bundle takes nothing from this module.

export interface ColumnStats {
  col: number;
  kind: 'number' | 'time' | 'bool' | 'text';
  count: number;
  nulls: number;
  distinct: number;
  distinctExact: boolean;
  min?: string;
  max?: string;
  /** Numbers: the mean value; time columns: the mean as epoch seconds. */
  mean?: number;
  /** Equal-width bins over [min, max] of the parsed values (epoch seconds for time columns). */
  histogram?: { from: number; to: number; count: number }[];
  top?: { value: string; count: number }[];
  /** True when top counts are estimates (more distinct values than could be counted exactly). */
  topApprox?: boolean;
  /** Values that did not parse as the column's type (left out of mean and histogram). */
  unparsed?: number;
}

export type ChartKind = 'line' | 'bar' | 'scatter';

export interface ChartData {
  kind: ChartKind;
  /** 'number' and 'time' (epoch seconds) axes are continuous; 'category' plots view order with labels. */
  xKind: 'number' | 'time' | 'category';
  xName: string;
  x: number[];
  /** Category labels (xKind 'category'), parallel to x. */
  labels?: string[];
  series: { name: string; values: (number | null)[] }[];
  /** View rows the chart covers and points drawn. */
  rows: number;
  points: number;
  reduced?: 'buckets' | 'sample';
}

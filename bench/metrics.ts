/** Reading Prometheus histograms from `/metrics` text: parse, subtract two scrapes, estimate quantiles. */

export interface HistogramSeries {
  /** Cumulative counts by upper bound (`le`), ascending; the last bound is +Inf. */
  buckets: Array<[number, number]>;
  sum: number;
  count: number;
}

/** One series per value of `byLabel` (other labels are summed). */
export type Histogram = Map<string, HistogramSeries>;

const SAMPLE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

function labelsOf(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text) for (const [, name, value] of text.matchAll(LABEL)) labels[name] = value;
  return labels;
}

export function parseHistogram(text: string, name: string, byLabel: string): Histogram {
  const bucketsBySeries = new Map<string, Map<number, number>>();
  const series: Histogram = new Map();
  const seriesFor = (key: string) => {
    let found = series.get(key);
    if (!found) series.set(key, (found = { buckets: [], sum: 0, count: 0 }));
    return found;
  };
  for (const line of text.split('\n')) {
    const sample = SAMPLE.exec(line);
    if (!sample || !sample[1].startsWith(name)) continue;
    const suffix = sample[1].slice(name.length);
    const labels = labelsOf(sample[2]);
    const key = labels[byLabel] ?? '';
    const value = Number(sample[3]);
    if (suffix === '_bucket') {
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
      let buckets = bucketsBySeries.get(key);
      if (!buckets) bucketsBySeries.set(key, (buckets = new Map()));
      buckets.set(le, (buckets.get(le) ?? 0) + value);
      seriesFor(key);
    } else if (suffix === '_sum') {
      seriesFor(key).sum += value;
    } else if (suffix === '_count') {
      seriesFor(key).count += value;
    }
  }
  for (const [key, buckets] of bucketsBySeries) {
    seriesFor(key).buckets = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  }
  return series;
}

/** The observations made between two scrapes. */
export function subtract(after: Histogram, before: Histogram): Histogram {
  const result: Histogram = new Map();
  for (const [key, a] of after) {
    const b = before.get(key);
    const earlier = new Map(b?.buckets ?? []);
    const delta: HistogramSeries = {
      buckets: a.buckets.map(([le, count]) => [le, count - (earlier.get(le) ?? 0)]),
      sum: a.sum - (b?.sum ?? 0),
      count: a.count - (b?.count ?? 0),
    };
    if (delta.count > 0) result.set(key, delta);
  }
  return result;
}

function combine(parts: Iterable<HistogramSeries>): HistogramSeries {
  const counts = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (const part of parts) {
    for (const [le, n] of part.buckets) counts.set(le, (counts.get(le) ?? 0) + n);
    sum += part.sum;
    count += part.count;
  }
  return { buckets: [...counts.entries()].sort((a, b) => a[0] - b[0]), sum, count };
}

export function add(left: Histogram, right: Histogram): Histogram {
  const result: Histogram = new Map(left);
  for (const [key, series] of right) {
    const earlier = result.get(key);
    result.set(key, earlier ? combine([earlier, series]) : series);
  }
  return result;
}

/** All series of a histogram as one. */
export function merged(histogram: Histogram): HistogramSeries {
  return combine(histogram.values());
}

/**
 * Like PromQL's histogram_quantile: linear interpolation inside the bucket that holds the rank,
 * so the answer is only as fine as the buckets. A rank in the +Inf bucket answers Infinity: all that is
 * known is that it is above the highest finite bound.
 */
export function quantile(series: HistogramSeries, q: number): number {
  if (series.count === 0 || series.buckets.length === 0) return NaN;
  const rank = q * series.count;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, count] of series.buckets) {
    if (count >= rank) {
      if (le === Infinity) return Infinity;
      const inBucket = count - lowerCount;
      return inBucket === 0 ? le : lowerBound + ((le - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}

/** Names of every metric family the text declares (`# TYPE name kind`). */
export function metricFamilies(text: string): Array<{ name: string; kind: string }> {
  return [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, kind]) => ({ name, kind }));
}

/** Sum of a counter's samples whose labels include every given pair. */
export function counterValue(text: string, name: string, where: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const sample = SAMPLE.exec(line);
    if (!sample || sample[1] !== name) continue;
    const labels = labelsOf(sample[2]);
    if (Object.entries(where).every(([k, v]) => labels[k] === v)) total += Number(sample[3]);
  }
  return total;
}

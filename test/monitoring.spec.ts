/**
 * The monitoring files under monitoring/ against the real service: every metric an alert or a
 * dashboard queries must be exported by `/metrics`, or the panel stays empty and the alert never
 * fires. Also checks that the Prometheus and Grafana files hold together.
 */
import { expect } from 'expect';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startApp, TestApp } from './support/app.js';
import { metricValue, parseMetrics } from './support/metrics.js';
import { eventually } from './support/sse.js';

// Compiled to dist/test/, so the repository root is two levels up.
const MONITORING = fileURLToPath(new URL('../../monitoring/', import.meta.url));
const ALERTS_FILE = join(MONITORING, 'prometheus/alerts.yml');
const ALERT_TESTS_FILE = join(MONITORING, 'prometheus/alerts.test.yml');
const RUNBOOK_FILE = fileURLToPath(new URL('../../docs/runbook.md', import.meta.url));
const PROMETHEUS_FILE = join(MONITORING, 'prometheus/prometheus.yml');
const DATASOURCES_DIR = join(MONITORING, 'grafana/provisioning/datasources');
const DASHBOARDS_DIR = join(MONITORING, 'grafana/dashboards');

/** Series Prometheus makes itself for every scrape target. */
const PROMETHEUS_SERIES = new Set(['up']);

const REQUIRED_ALERTS = [
  'SlowSSETransaction',
  'HighTransactionFailureRate',
  'HighRollbackRate',
  'ForeignKeyViolations',
  'LongDatabaseTransaction',
  'DatabasePoolSaturation',
  'LLMErrorRate',
  'LLMSlowFirstToken',
  'ApprovalBacklog',
  'ServiceDown',
  'UnexpectedProcessError',
];

// ------------------------------------------------------------------------------------------------
// A reader for the YAML these files use (the project has no YAML dependency): block mappings and
// sequences, plain and quoted scalars, `|` and `>` block scalars, flow sequences of scalars.
// Anything else (anchors, tags, flow mappings, multi-line plain scalars) throws, naming the line.

type Yaml = string | null | Yaml[] | { [key: string]: Yaml };

class YamlSubsetReader {
  private readonly lines: string[];
  private index = 0;

  constructor(
    source: string,
    private readonly file: string,
  ) {
    this.lines = source.replace(/\r\n?/g, '\n').split('\n');
  }

  read(): Yaml {
    const value = this.block(0);
    const rest = this.peek();
    if (rest) this.fail(`unexpected content at indentation ${rest.indent}`);
    return value;
  }

  private fail(message: string): never {
    throw new Error(`${this.file}:${this.index + 1}: ${message}`);
  }

  /** The next line that holds content, skipping blank and comment lines. */
  private peek(): { indent: number; text: string } | undefined {
    while (this.index < this.lines.length) {
      const raw = this.lines[this.index];
      if (/^\s*(#.*)?$/.test(raw)) {
        this.index++;
        continue;
      }
      const indent = raw.length - raw.trimStart().length;
      if (raw.slice(0, indent).includes('\t')) this.fail('tab in indentation');
      return { indent, text: raw.slice(indent).trimEnd() };
    }
    return undefined;
  }

  private block(minIndent: number): Yaml {
    const line = this.peek();
    if (!line || line.indent < minIndent) return null;
    return isSequenceItem(line.text) ? this.sequence(line.indent) : this.mapping(line.indent);
  }

  private sequence(indent: number): Yaml[] {
    const items: Yaml[] = [];
    for (let line = this.peek(); line && line.indent === indent && isSequenceItem(line.text); line = this.peek()) {
      const content = line.text.slice(1).trimStart();
      if (content === '') {
        this.index++;
        items.push(this.block(indent + 1));
      } else if (isSequenceItem(content) || MAPPING_ENTRY.test(content)) {
        // `- key: value` opens a mapping at the column of `key`: blank out the dash and read on.
        const raw = this.lines[this.index];
        this.lines[this.index] = `${raw.slice(0, indent)} ${raw.slice(indent + 1)}`;
        items.push(this.block(indent + 1));
      } else {
        this.index++;
        items.push(this.scalar(content));
      }
    }
    const next = this.peek();
    if (next && next.indent > indent) this.fail('unexpected indentation after a sequence item');
    return items;
  }

  private mapping(indent: number): { [key: string]: Yaml } {
    const result: { [key: string]: Yaml } = {};
    for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
      if (isSequenceItem(line.text)) this.fail('a sequence item where a mapping key was expected');
      const entry = MAPPING_ENTRY.exec(line.text);
      if (!entry) this.fail(`expected "key: value", got ${JSON.stringify(line.text)}`);
      const key = entry[1];
      const given = (entry[2] ?? '').trim();
      const rest = given.startsWith('#') ? '' : given;
      if (Object.hasOwn(result, key)) this.fail(`duplicate key ${key}`);
      this.index++;
      if (rest === '') {
        const next = this.peek();
        if (next && next.indent === indent && isSequenceItem(next.text)) result[key] = this.sequence(indent);
        else result[key] = this.block(indent + 1);
      } else if (/^[|>][+-]?(\s+#.*)?$/.test(rest)) {
        result[key] = this.blockScalar(indent, rest.slice(0, 2).trim());
      } else {
        result[key] = this.scalar(rest);
      }
    }
    const next = this.peek();
    if (next && next.indent > indent) this.fail('unexpected indentation (a multi-line plain scalar needs quotes or |)');
    return result;
  }

  /** A `|` (literal) or `>` (folded) block scalar, with `-`/`+` chomping. */
  private blockScalar(parentIndent: number, header: string): string {
    const body: string[] = [];
    let indent: number | undefined;
    while (this.index < this.lines.length) {
      const raw = this.lines[this.index];
      const blank = raw.trim() === '';
      const lineIndent = raw.length - raw.trimStart().length;
      if (!blank && lineIndent <= parentIndent) break;
      if (!blank) indent ??= lineIndent;
      if (!blank && lineIndent < (indent ?? 0)) this.fail('block scalar line indented less than its first line');
      body.push(blank ? '' : raw.slice(indent));
      this.index++;
    }
    let end = body.length;
    while (end > 0 && body[end - 1] === '') end--;
    const content = body.slice(0, end);
    const text = header.startsWith('>') ? fold(content) : content.join('\n');
    if (text === '') return '';
    if (header.endsWith('-')) return text;
    if (header.endsWith('+')) return text + '\n'.repeat(body.length - end + 1);
    return `${text}\n`;
  }

  private scalar(text: string): Yaml {
    const double = /^"((?:[^"\\]|\\.)*)"\s*(#.*)?$/.exec(text);
    if (double) return JSON.parse(`"${double[1]}"`) as string;
    const single = /^'((?:[^']|'')*)'\s*(#.*)?$/.exec(text);
    if (single) return single[1].replaceAll("''", "'");
    const flow = /^\[(.*)\]\s*(#.*)?$/.exec(text);
    if (flow) {
      const inner = flow[1].trim();
      if (inner === '') return [];
      const parts = inner.match(/"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^,]+/g) ?? [];
      return parts
        .map((part) => part.trim())
        .filter((part) => part !== ',' && part !== '')
        .map((part) => this.scalar(part));
    }
    if (/^\{\s*\}$/.test(text)) return {};
    if (/^["'[\]{}&*!%@`|>]/.test(text)) this.fail(`unsupported or malformed scalar ${JSON.stringify(text)}`);
    const plain = stripComment(text);
    if (/:(\s|$)/.test(plain)) this.fail(`": " inside a plain scalar (quote it): ${JSON.stringify(plain)}`);
    return plain === '~' || plain === 'null' ? null : plain;
  }
}

const MAPPING_ENTRY = /^([^\s#'"[\]{},&*!|>%@`-][^:]*?|-[^\s:][^:]*?)\s*:(?:\s+(.*))?$/;

function isSequenceItem(text: string): boolean {
  return text === '-' || text.startsWith('- ');
}

function stripComment(text: string): string {
  return text.replace(/(^|\s)#.*$/, '').trim();
}

/** `>` folding: lines of a paragraph join with a space, blank lines keep their line break. */
function fold(lines: string[]): string {
  let text = '';
  lines.forEach((line, i) => {
    if (i === 0) text = line;
    else if (line === '' || lines[i - 1] === '' || /^\s/.test(line) || /^\s/.test(lines[i - 1])) text += `\n${line}`;
    else text += ` ${line}`;
  });
  return text.replace(/\n\n/g, '\n');
}

function readYaml(file: string): Yaml {
  return new YamlSubsetReader(readFileSync(file, 'utf8'), file).read();
}

const isMap = (value: Yaml | undefined): value is { [key: string]: Yaml } =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const asList = (value: Yaml | undefined): Yaml[] => (Array.isArray(value) ? value : []);

// ------------------------------------------------------------------------------------------------
// Metric names in PromQL.

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names an expression selects: strings, label matchers, ranges, label lists of
 * `by`/`on`/…, function names and keywords are left out. Grafana's `$__rate_interval`-style
 * variables live in ranges and go with them.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/#.*$/gm, '')
    .replace(/\{[^{}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of bare.matchAll(/(?<![\w:.$])[a-zA-Z_:][\w:]*(?![\w:])(?!\s*\()/g)) {
    if (!PROMQL_WORDS.has(match[0].toLowerCase())) names.add(match[0]);
  }
  return [...names];
}

// ------------------------------------------------------------------------------------------------
// What monitoring/ holds.

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { [key: string]: Yaml };
  annotations: { [key: string]: Yaml };
}

function alertRules(): AlertRule[] {
  const document = readYaml(ALERTS_FILE);
  if (!isMap(document)) throw new Error(`${ALERTS_FILE}: expected a mapping with "groups"`);
  return asList(document.groups).flatMap((group) => {
    if (!isMap(group)) throw new Error(`${ALERTS_FILE}: a group is not a mapping`);
    return asList(group.rules).map((rule) => {
      if (!isMap(rule) || typeof rule.alert !== 'string' || typeof rule.expr !== 'string') {
        throw new Error(`${ALERTS_FILE}: every rule needs "alert" and "expr": ${JSON.stringify(rule)}`);
      }
      return {
        alert: rule.alert,
        expr: rule.expr,
        for: typeof rule.for === 'string' ? rule.for : undefined,
        labels: isMap(rule.labels) ? rule.labels : {},
        annotations: isMap(rule.annotations) ? rule.annotations : {},
      };
    });
  });
}

interface Dashboard {
  file: string;
  json: { uid?: string; title?: string; panels?: Panel[] };
}
interface Panel {
  id?: number;
  title?: string;
  type?: string;
  datasource?: { uid?: string };
  targets?: { expr?: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
}

function dashboards(): Dashboard[] {
  return readdirSync(DASHBOARDS_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => ({ file: name, json: JSON.parse(readFileSync(join(DASHBOARDS_DIR, name), 'utf8')) as Dashboard['json'] }));
}

/** Every panel, rows' nested panels included. */
function panelsOf(panels: Panel[] = []): Panel[] {
  return panels.flatMap((panel) => [panel, ...panelsOf(panel.panels)]);
}

/** Every `expr` anywhere in a dashboard, with where it is. */
function dashboardExprs(dashboard: Dashboard): { where: string; expr: string }[] {
  const found: { where: string; expr: string }[] = [];
  const walk = (node: unknown, where: string): void => {
    if (Array.isArray(node)) node.forEach((child) => walk(child, where));
    else if (node && typeof node === 'object') {
      const here = typeof (node as Panel).title === 'string' ? `${dashboard.file} "${(node as Panel).title}"` : where;
      for (const [key, value] of Object.entries(node)) {
        if (key === 'expr' && typeof value === 'string') found.push({ where: here, expr: value });
        else walk(value, here);
      }
    }
  };
  walk(dashboard.json, dashboard.file);
  return found;
}

/** `# TYPE name type` lines of a Prometheus text exposition. */
function exportedTypes(exposition: string): Map<string, string> {
  return new Map([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
}

/** Whether a selected series name is exported: itself, or a histogram's/summary's own series. */
function isExported(name: string, types: Map<string, string>): boolean {
  if (types.has(name)) return true;
  const series = /^(.+)_(bucket|sum|count)$/.exec(name);
  if (!series) return false;
  const type = types.get(series[1]);
  return type === 'histogram' || (type === 'summary' && series[2] !== 'bucket');
}

// ------------------------------------------------------------------------------------------------

describe('monitoring: the PromQL reader', () => {
  it('finds metric names and nothing else', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (operation, le) (rate(sse_transaction_duration_seconds_bucket{le="0.1", x=~"a|b"}[5m]))) > 0.1\n' +
          '  / on () group_left () sum(rate(turns_total[$__rate_interval] offset 1h)) and on(x) max(approvals_pending) > bool 1e-3',
      ).sort(),
    ).toEqual(['approvals_pending', 'sse_transaction_duration_seconds_bucket', 'turns_total']);
    expect(metricNames('label_replace(up{job="a"}, "dst", "$1", "instance", "(.*)") unless Inf')).toEqual(['up']);
  });

  it('reads the YAML these files use and refuses what it does not know', () => {
    const yaml = 'a:\n  - b: 1\n    c: "x: y"\n  - [p, \'q\']\nd: |\n  one\n\n  two\ne: >-\n  f\n  g\nh:\n- i\n';
    expect(new YamlSubsetReader(yaml, 'inline').read()).toEqual({
      a: [{ b: '1', c: 'x: y' }, ['p', 'q']],
      d: 'one\n\ntwo\n',
      e: 'f g',
      h: ['i'],
    });
    expect(() => new YamlSubsetReader('a: b: c\n', 'inline').read()).toThrow(/plain scalar/);
    expect(() => new YamlSubsetReader('a: {{ x }}\n', 'inline').read()).toThrow(/unsupported/);
    expect(() => new YamlSubsetReader('a: 1\n  b: 2\n', 'inline').read()).toThrow(/indentation/);
  });
});

describe('monitoring: Prometheus and Grafana files', () => {
  it('alerts.yml parses, holds the required alerts, and each tells on-call what to do', () => {
    const rules = alertRules();
    // A cross-check on the reader: as many rules as `- alert:` lines in the file.
    const declared = readFileSync(ALERTS_FILE, 'utf8').match(/^\s*-\s+alert:/gm) ?? [];
    expect(rules).toHaveLength(declared.length);
    expect(rules.map((r) => r.alert)).toEqual(expect.arrayContaining(REQUIRED_ALERTS));
    // One name may carry several severities (a warning, then a critical threshold), never twice the same.
    const keys = rules.map((r) => `${r.alert}/${String(r.labels.severity)}`);
    expect(keys.filter((key, i) => keys.indexOf(key) !== i)).toEqual([]);
    for (const rule of rules) {
      const context = `alert ${rule.alert}`;
      expect({ context, severity: rule.labels.severity }).toEqual({
        context,
        severity: expect.stringMatching(/^(critical|warning|info)$/),
      });
      expect({ context, summary: rule.annotations.summary }).toEqual({ context, summary: expect.stringMatching(/\S{3}/) });
      expect({ context, description: rule.annotations.description }).toEqual({
        context,
        description: expect.stringMatching(/[\s\S]{40}/),
      });
      // The runbook says what the alert means and what to do, under a heading of the alert's name.
      expect({ context, runbook: rule.annotations.runbook }).toEqual({ context, runbook: `docs/runbook.md#${rule.alert.toLowerCase()}` });
      expect({ context, metrics: metricNames(rule.expr).length > 0 }).toEqual({ context, metrics: true });
    }
  });

  it('docs/runbook.md has a section for every alert', () => {
    const headings = new Set([...readFileSync(RUNBOOK_FILE, 'utf8').matchAll(/^## (\w+)$/gm)].map((m) => m[1].toLowerCase()));
    expect(
      alertRules()
        .filter((rule) => !headings.has(rule.alert.toLowerCase()))
        .map((rule) => rule.alert),
    ).toEqual([]);
  });

  it('alerts.test.yml makes every alert fire and checks that each stays quiet', () => {
    // promtool runs the tests (.ci/run); this only checks that none is forgotten. A case that expects
    // alerts lists `exp_alerts` after its alertname, a quiet one does not.
    const tests = readFileSync(ALERT_TESTS_FILE, 'utf8');
    const fired = new Set<string>();
    const quiet = new Set<string>();
    for (const segment of tests.split(/(?=alertname: )/).slice(1)) {
      const name = /^alertname: (\w+)/.exec(segment)?.[1] ?? '';
      const evaluation = segment.split(/\n\s*- (?:\{ )?eval_time:/)[0];
      const severities = [...evaluation.matchAll(/exp_labels: \{ severity: (\w+)/g)].map((m) => m[1]);
      if (severities.length === 0) quiet.add(name);
      for (const severity of severities) fired.add(`${name}/${severity}`);
    }
    const rules = alertRules();
    expect(rules.map((r) => `${r.alert}/${String(r.labels.severity)}`).filter((key) => !fired.has(key))).toEqual([]);
    expect(rules.map((r) => r.alert).filter((name) => !quiet.has(name))).toEqual([]);
  });

  it('prometheus.yml scrapes the app and loads alerts.yml', () => {
    const config = readYaml(PROMETHEUS_FILE);
    if (!isMap(config)) throw new Error('prometheus.yml is not a mapping');
    expect(asList(config.rule_files)).toContain('alerts.yml');
    const app = asList(config.scrape_configs)
      .filter(isMap)
      .find((job) => job.job_name === 'agent-runtime');
    expect(app).toBeDefined();
    expect(app?.metrics_path ?? '/metrics').toBe('/metrics');
    const targets = asList(app?.static_configs)
      .filter(isMap)
      .flatMap((c) => asList(c.targets));
    expect(targets).toContain('app:3000');
    // ServiceDown selects the scrape job by name.
    expect(alertRules().find((r) => r.alert === 'ServiceDown')?.expr).toContain('job="agent-runtime"');
  });

  it('the dashboards cover what is required and query the provisioned datasource', () => {
    const uids = readdirSync(DATASOURCES_DIR)
      .filter((name) => /\.ya?ml$/.test(name))
      .flatMap((name) => {
        const doc = readYaml(join(DATASOURCES_DIR, name));
        return isMap(doc)
          ? asList(doc.datasources)
              .filter(isMap)
              .map((ds) => ds.uid)
          : [];
      });
    expect(uids).toContain('prometheus');

    const all = dashboards();
    expect(all.map((d) => d.json.title)).toEqual(
      expect.arrayContaining([
        expect.stringContaining('SSE transactions'),
        expect.stringContaining('Streams and LLM'),
        expect.stringContaining('Agents and approvals'),
      ]),
    );
    expect(new Set(all.map((d) => d.json.uid)).size).toBe(all.length);
    const everyExpr = all
      .flatMap(dashboardExprs)
      .map((e) => e.expr)
      .join('\n');
    expect(everyExpr).toMatch(/http_request_duration_seconds/);

    for (const dashboard of all) {
      const panels = panelsOf(dashboard.json.panels);
      const ids = panels.map((p) => p.id);
      expect({ file: dashboard.file, duplicateIds: ids.filter((id, i) => ids.indexOf(id) !== i) }).toEqual({
        file: dashboard.file,
        duplicateIds: [],
      });
      const queried = panels.filter((p) => p.targets?.length);
      expect(queried.length).toBeGreaterThan(0);
      const wrongSource = queried
        .flatMap((p) => [p.datasource?.uid, ...(p.targets ?? []).map((t) => t.datasource?.uid)].map((uid) => ({ panel: p.title, uid })))
        .filter((ref) => ref.uid !== undefined && !uids.includes(ref.uid));
      expect({ file: dashboard.file, wrongSource }).toEqual({ file: dashboard.file, wrongSource: [] });
    }
  });
});

describe('monitoring: every metric in monitoring/ is exported by the service', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(() => t?.close());

  it('exports each metric an alert or a dashboard queries', async () => {
    const response = await fetch(`${t.baseUrl}/metrics`);
    expect(response.status).toBe(200);
    const types = exportedTypes(await response.text());
    // Sanity: the exposition carries the process defaults, so the check below can rely on them.
    expect(types.get('process_cpu_seconds_total')).toBe('counter');

    const uses = [
      ...alertRules().map((rule) => ({ where: `alerts.yml ${rule.alert}`, expr: rule.expr })),
      ...dashboards().flatMap(dashboardExprs),
    ];
    const missing = new Map<string, Set<string>>();
    for (const { where, expr } of uses) {
      for (const name of metricNames(expr)) {
        if (PROMETHEUS_SERIES.has(name) || isExported(name, types)) continue;
        missing.set(name, (missing.get(name) ?? new Set()).add(where));
      }
    }
    if (missing.size > 0) {
      const report = [...missing].map(([name, where]) => `${name} (used by ${[...where].join('; ')})`).sort();
      throw new Error(`Metrics queried in monitoring/ but not exported by /metrics:\n  ${report.join('\n  ')}`);
    }
  });

  it("gives the service dashboard's process and Node panels a value, not only a series", async () => {
    // Short-lived garbage, well past the young generation, so V8 runs scavenges (minor collections)
    // without --expose-gc; each is observed through perf_hooks and lands in the histogram.
    let garbage: Array<{ i: number; s: string }> = [];
    for (let i = 0; i < 2_000_000; i++) {
      garbage.push({ i, s: `x${i}` });
      if (garbage.length === 10_000) garbage = [];
    }
    expect(garbage).toHaveLength(0);
    // The GC observer's callback is queued: its count may land a tick after the collections.
    await eventually(async () => metricValue(await (await fetch(`${t.baseUrl}/metrics`)).text(), 'nodejs_gc_duration_seconds_count') > 0);
    // The event loop blocked for 30 ms, and its delay histogram must show it. The histogram is reset
    // at each scrape (empty, its p99 reads 5.11e-7 s: "> 0" alone would prove nothing) and records the
    // time between two ticks of its 10 ms timer: one tick before the block, one after it.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const blockedUntil = Date.now() + 30;
    while (Date.now() < blockedUntil);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const samples = await (await fetch(`${t.baseUrl}/metrics`)).text();
    const value = (name: string, labels: Record<string, string> = {}) => ({ name, value: metricValue(samples, name, labels) > 0 });
    for (const name of [
      'process_resident_memory_bytes',
      'process_open_fds',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_active_handles_total',
      'nodejs_gc_duration_seconds_count',
      'nodejs_gc_duration_seconds_sum',
    ]) {
      expect(value(name)).toEqual({ name, value: true });
    }
    // The panel splits collections by kind; a scavenge is a minor one.
    expect(value('nodejs_gc_duration_seconds_count', { kind: 'minor' })).toEqual({ name: 'nodejs_gc_duration_seconds_count', value: true });
    const kinds = new Set(parseMetrics(samples).flatMap((s) => (s.name === 'nodejs_gc_duration_seconds_count' ? [s.labels.kind] : [])));
    expect([...kinds].filter((kind) => !['major', 'minor', 'incremental', 'weakcb'].includes(kind))).toEqual([]);
    // At least the 30 ms block, in seconds.
    expect(metricValue(samples, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0.02);
  });
});

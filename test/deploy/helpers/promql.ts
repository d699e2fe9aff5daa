/**
 * Just enough PromQL lexing to list the metric names an expression reads. Parsing proper is
 * promtool's job (the tests hand every expression to `promtool check rules`); this only has to
 * find the bare identifiers that are not functions, keywords or label names.
 */

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2'])

/** Grafana's variables, replaced by values PromQL accepts where they stand. */
export function substituteGrafanaVariables (expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '5m')
    .replace(/\$__interval|\$\{__interval\}/g, '1m')
    .replace(/\$__range|\$\{__range\}/g, '1h')
    .replace(/\$\{?\w+\}?/g, '.*')
}

export function metricNames (expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/(?<![\w:])\d+(\.\d+)?([eE][+-]?\d+)?(ms|s|m|h|d|w|y)*(?![\w:])/g, ' ')
  const names = new Set<string>()
  for (const match of stripped.matchAll(/(?<![\w:])[a-zA-Z_:][\w:]*(?![\w:])(?!\s*\()/g)) {
    if (!KEYWORDS.has(match[0].toLowerCase())) names.add(match[0])
  }
  return [...names]
}

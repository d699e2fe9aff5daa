/**
 * A YAML "billion laughs": valid YAML whose aliases expand 9^5 times, appended to a routes.yaml.
 * The keys it adds are unknown, but the parser refuses the file before any check sees them.
 */
export function withAliasBomb (yaml: string): string {
  return `${yaml}
x1: &x1 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
x2: &x2 [*x1, *x1, *x1, *x1, *x1, *x1, *x1, *x1, *x1]
x3: &x3 [*x2, *x2, *x2, *x2, *x2, *x2, *x2, *x2, *x2]
x4: &x4 [*x3, *x3, *x3, *x3, *x3, *x3, *x3, *x3, *x3]
x5: &x5 [*x4, *x4, *x4, *x4, *x4, *x4, *x4, *x4, *x4]
`
}

/** Where a short-lived command writes: stdout and stderr in the CLI, buffers in tests. */
export interface Output {
  out: (text: string) => void
  err: (text: string) => void
}

/**
 * Tells when a config file may have changed. The directory is watched, not the file: Kubernetes
 * updates a mounted ConfigMap by writing a new timestamped directory and renaming a `..data`
 * symlink over the old one (`routes.yaml → ..data/routes.yaml`), so the file's own inode never
 * changes and a watch on it would never fire; editors that save by rename do much the same. Any
 * event in the directory counts, debounced, and the reader compares contents, so a spurious event
 * costs one file read.
 *
 * A config path that is a symlink into another directory (not the ConfigMap layout) is not
 * followed: SIGHUP reloads it.
 */
import { watch, type FSWatcher } from 'node:fs'
import { dirname, resolve } from 'node:path'

export interface FileWatch {
  close (): void
}

export function watchConfigFile (file: string, onChange: () => void, options: { debounceMs?: number, onError?: (error: Error) => void } = {}): FileWatch {
  const debounceMs = options.debounceMs ?? 250
  let timer: NodeJS.Timeout | undefined
  let closed = false
  const changed = (): void => {
    if (closed) return
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = undefined
      if (!closed) onChange()
    }, debounceMs)
    timer.unref()
  }
  // persistent: false, so the watch alone never keeps the process alive.
  const watcher: FSWatcher = watch(dirname(resolve(file)), { persistent: false }, changed)
  watcher.on('error', (error) => options.onError?.(error))
  return {
    close: () => {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      watcher.close()
    }
  }
}

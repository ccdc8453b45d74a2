import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname } from "node:path";

const SETTLE_MS = 200;

/**
 * Calls `onChange` when the config file's content changes, however it changes: edited in place,
 * replaced by a rename, or (Kubernetes ConfigMaps) its `..data` symlink swapped. It watches the
 * folder, not the file, because a swap replaces the file the old watch pointed at; and compares
 * content, so unrelated events in the folder cause no reload. Returns a function that stops it.
 */
export function watchConfigFile(file: string, onChange: () => void): () => void {
  const name = basename(file);
  let last: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const digest = async () => {
    try {
      return createHash("sha256")
        .update(await readFile(file))
        .digest("hex");
    } catch {
      return "unreadable";
    }
  };
  void digest().then((d) => {
    last ??= d;
  });

  const check = async () => {
    const now = await digest();
    if (now === last) return;
    last = now;
    onChange();
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), (_event, changed) => {
      if (changed !== null && changed !== name && !changed.startsWith("..")) return;
      // Editors and ConfigMap updates write in several steps: wait for them to settle.
      clearTimeout(timer);
      timer = setTimeout(() => void check(), SETTLE_MS);
    });
    watcher.unref();
  } catch {
    // A folder that cannot be watched: SIGHUP still reloads.
  }
  return () => {
    clearTimeout(timer);
    watcher?.close();
  };
}

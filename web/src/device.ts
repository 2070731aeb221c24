// What is stored on this device (IndexedDB), as opposed to on the server.
//
// automerge-repo writes a changed document to its storage through a throttle
// (Repo's saveDebounceRate, 100 ms by default, and each write waits for the one
// before it): the last keystrokes of a burst are only in memory for a while,
// and a reload or a closed tab in that window loses them. So the editor writes
// the document itself after each change (Repo.flush, which resolves once
// IndexedDB has committed), one write at a time, and knows which version is
// stored; when the page goes away, it writes whatever is left.

import * as A from "@automerge/automerge"
import type { DocHandle, Repo } from "@automerge/automerge-repo"

function sameHeads(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((h) => b.includes(h))
}

export type DeviceCopy = {
  /** Whether the version the editor shows is stored on this device. */
  stored(): boolean
  stop(): void
}

/** Keeps this device's copy of `handle`'s document current; `onState` runs
 * whenever `stored()` may have changed. */
export function keepOnDevice<T>(repo: Repo, handle: DocHandle<T>, onState: () => void): DeviceCopy {
  let storedHeads: string[] | null = null
  let writing = false
  let stopped = false
  const current = () => A.getHeads(handle.doc() as A.Doc<T>)
  const stored = () => storedHeads !== null && sameHeads(storedHeads, current())
  const write = async () => {
    if (writing || stopped) return
    writing = true
    try {
      while (!stopped && !stored()) {
        const heads = current()
        try {
          await repo.flush([handle.documentId])
        } catch {
          // Storage refused the write (full, or closing): the next change tries again.
          break
        }
        storedHeads = heads
        onState()
      }
    } finally {
      writing = false
    }
  }
  const onChange = () => {
    onState()
    void write()
  }
  handle.on("heads-changed", onChange)
  void write()
  return {
    stored,
    stop() {
      stopped = true
      handle.off("heads-changed", onChange)
    },
  }
}

/** Writes every open document when the page is hidden or goes away (a closed
 * tab, a reload, a phone switching apps), without waiting for the throttle. */
export function flushOnLeave(repo: Repo) {
  const flush = () => {
    const ready = Object.values(repo.handles)
      .filter((h) => h.isReady())
      .map((h) => h.documentId)
    repo.flush(ready).catch(() => {
      // Nothing more can be done while the page goes away.
    })
  }
  window.addEventListener("pagehide", flush)
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") flush()
  })
}

// Waiting on events, for the scripts of the JS client tests: every wait is
// bounded by a timeout that fails the run.

export function timeout(promise, ms, what) {
  let timer
  const fail = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([promise, fail]).finally(() => clearTimeout(timer))
}

// Resolves when `check()` is true, checking again on every event named in
// `events` of each of `emitters`.
export function when(emitters, events, check, ms, what) {
  return timeout(
    new Promise((resolve) => {
      const test = () => {
        if (check()) {
          for (const e of emitters) for (const ev of events) e.off(ev, test)
          resolve()
        }
      }
      for (const e of emitters) for (const ev of events) e.on(ev, test)
      test()
    }),
    ms,
    what,
  )
}

// Whether two lists of heads name the same changes.
export const sameHeads = (a, b) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort())

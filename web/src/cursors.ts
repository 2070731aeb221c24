// Other people's cursors and selections in CodeMirror, drawn from positions the
// caller computes from Automerge cursors (so they survive concurrent edits).
// Our own caret is CodeMirror's: ours are never drawn as someone else's, even
// when our own presence comes back to us (the server relays it through others).

import { type Extension, type Range, StateEffect } from "@codemirror/state"
import { Decoration, WidgetType } from "@codemirror/view"
import { decorationField } from "./decorations"

/** `peer`: the tab's peer id; `who`: the person (the same in each of their tabs). */
/** A peer's colour as the server lets it through (`#hex` or `hsl(H S% L%)`),
 * else a grey: a colour goes into a style, so nothing else may. */
export function plainColor(c: string): string {
  return /^(#[0-9a-f]{3,4}|#[0-9a-f]{6}|#[0-9a-f]{8}|hsl\(\d{1,3} \d{1,3}% \d{1,3}%\))$/i.test(c) ? c : "#767676"
}

/** Black or white, whichever reads on `c` (a colour `plainColor` let
 * through): a light hue under white letters would fail WCAG's 4.5:1. */
export function textOn(c: string): string {
  let rgb: number[]
  const hsl = /^hsl\((\d+) (\d+)% (\d+)%\)$/.exec(c)
  if (hsl) {
    const [hue, sat, light] = [Number(hsl[1]) % 360, Math.min(Number(hsl[2]), 100) / 100, Math.min(Number(hsl[3]), 100) / 100]
    const a = sat * Math.min(light, 1 - light)
    const f = (n: number) => {
      const k = (n + hue / 30) % 12
      return light - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))
    }
    rgb = [f(0), f(8), f(4)]
  } else {
    let hex = c.slice(1)
    if (hex.length <= 4) hex = [...hex].map((x) => x + x).join("")
    rgb = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
  }
  const lin = rgb.map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
  const lum = 0.2126 * (lin[0] ?? 0) + 0.7152 * (lin[1] ?? 0) + 0.0722 * (lin[2] ?? 0)
  return 1.05 / (lum + 0.05) >= 4.5 ? "#fff" : "#000"
}

/** The same colour, see-through, for a selection's background. */
function tint(c: string): string {
  const plain = plainColor(c)
  if (plain.startsWith("hsl(")) return plain.replace(")", " / 0.2)")
  return plain.length === 7 ? `${plain}33` : plain
}

export type RemoteCursor = { peer: string; who: string; name: string; color: string; anchor: number; head: number }

export const setRemoteCursors = StateEffect.define<RemoteCursor[]>()

class Caret extends WidgetType {
  constructor(readonly name: string, readonly color: string) {
    super()
  }
  eq(other: Caret) {
    return other.name === this.name && other.color === this.color
  }
  toDOM() {
    const el = document.createElement("span")
    el.className = "cm-remote-caret"
    el.style.borderLeftColor = this.color
    el.dataset.name = this.name
    el.setAttribute("aria-hidden", "true")
    const label = document.createElement("span")
    label.className = "cm-remote-name"
    label.style.background = this.color
    label.style.color = textOn(this.color)
    label.textContent = this.name
    el.appendChild(label)
    return el
  }
  ignoreEvent() {
    return true
  }
}

/** `self`: this tab and this person, whose cursors are not drawn. */
export function remoteCursors(self: { peer: string; who: string }): Extension {
  return decorationField(setRemoteCursors, (cursors, len) => {
    const ranges: Range<Decoration>[] = []
    for (const c of cursors) {
      if (c.peer === self.peer || c.who === self.who) continue
      const anchor = Math.min(Math.max(c.anchor, 0), len)
      const head = Math.min(Math.max(c.head, 0), len)
      const from = Math.min(anchor, head)
      const to = Math.max(anchor, head)
      if (from < to) {
        ranges.push(Decoration.mark({ attributes: { style: `background-color: ${tint(c.color)}` }, class: "cm-remote-selection" }).range(from, to))
      }
      ranges.push(Decoration.widget({ widget: new Caret(c.name, plainColor(c.color)), side: 1 }).range(head))
    }
    return ranges
  })
}

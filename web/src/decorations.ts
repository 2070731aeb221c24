// The shape the notes' drawn layers share (comments' highlights, authorship
// colours, other people's cursors): a set of decorations that follows the
// text through every change and is replaced whole when its effect comes.

import { type Range, StateField, type StateEffectType } from "@codemirror/state"
import { Decoration, type DecorationSet, EditorView } from "@codemirror/view"

/** A field drawing `build(value, length of the text)` each time `effect`
 * carries a value, and mapping what it drew through the edits meanwhile. */
export function decorationField<T>(effect: StateEffectType<T>, build: (value: T, length: number) => Range<Decoration>[]): StateField<DecorationSet> {
  return StateField.define<DecorationSet>({
    create: () => Decoration.none,
    update(value, tr) {
      let v = value.map(tr.changes)
      for (const e of tr.effects) if (e.is(effect)) v = Decoration.set(build(e.value, tr.state.doc.length), true)
      return v
    },
    provide: (f) => EditorView.decorations.from(f),
  })
}

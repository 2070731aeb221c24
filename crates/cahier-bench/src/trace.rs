//! The real editing traces (`../shared/data/editing-traces`, CC BY 4.0): read
//! and replayed into Automerge documents.

use anyhow::{Context, bail};
use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc};

/// One edit: at `pos`, delete `del` characters, insert `ins`.
pub struct Patch {
    pub pos: usize,
    pub del: isize,
    pub ins: String,
}

fn read(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    Ok(serde_json::from_reader(flate2::read::GzDecoder::new(file))?)
}

fn patches_of(txn: &serde_json::Value) -> anyhow::Result<Vec<Patch>> {
    txn["patches"]
        .as_array()
        .context("patches")?
        .iter()
        .map(|p| {
            Ok(Patch {
                pos: p[0].as_u64().context("pos")? as usize,
                del: p[1].as_i64().context("del")? as isize,
                ins: p[2].as_str().context("ins")?.to_owned(),
            })
        })
        .collect()
}

/// A sequential trace: its transactions and the text they end with.
pub struct Sequential {
    pub txns: Vec<Vec<Patch>>,
    pub end: String,
}

pub fn sequential(path: &std::path::Path) -> anyhow::Result<Sequential> {
    let trace = read(path)?;
    let txns = trace["txns"].as_array().context("txns")?.iter().map(patches_of).collect::<anyhow::Result<_>>()?;
    Ok(Sequential { txns, end: trace["endContent"].as_str().context("endContent")?.to_owned() })
}

/// A document whose first change creates the `text` object, with nothing else.
pub fn base_doc() -> anyhow::Result<(Automerge, ObjId)> {
    let mut doc = cahier_doc::empty();
    let mut tx = doc.transaction();
    let text = tx.put_object(ROOT, "text", ObjType::Text)?;
    tx.commit();
    Ok((doc, text))
}

/// Applies one transaction's patches as one change.
pub fn apply(doc: &mut Automerge, text: &ObjId, patches: &[Patch]) -> anyhow::Result<()> {
    let mut tx = doc.transaction();
    for p in patches {
        tx.splice_text(text, p.pos, p.del, &p.ins)?;
    }
    tx.commit();
    Ok(())
}

/// A document holding the first `limit` transactions of a sequential trace (all
/// of them when `limit` is `None`), one change each; checks `endContent` when whole.
pub fn replay(path: &std::path::Path, limit: Option<usize>) -> anyhow::Result<(Automerge, ObjId)> {
    let trace = sequential(path)?;
    let (mut doc, text) = base_doc()?;
    let n = limit.unwrap_or(trace.txns.len()).min(trace.txns.len());
    for txn in &trace.txns[..n] {
        apply(&mut doc, &text, txn)?;
    }
    if n == trace.txns.len() && doc.text(&text)? != trace.end {
        bail!("the replayed trace does not end with endContent");
    }
    Ok((doc, text))
}

/// One agent's edits in a concurrent trace, in order, one patch per keystroke.
/// Positions refer to the merged text the agent saw; a replayer clamps them.
pub fn agent_patches(path: &std::path::Path, agent: u64) -> anyhow::Result<Vec<Patch>> {
    let trace = read(path)?;
    let mut out = Vec::new();
    for txn in trace["txns"].as_array().context("txns")? {
        if txn["agent"].as_u64() == Some(agent) {
            out.extend(patches_of(txn)?);
        }
    }
    if out.is_empty() {
        bail!("{}: agent {agent} made no edit", path.display());
    }
    Ok(out)
}

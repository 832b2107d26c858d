//! What one row of a request is conditioned on: the engine prepares it from a request's label
//! or source, scoring names it, and it becomes the generator's condition tensor.
use super::errors::invalid;
use super::Engine;
use crate::data::{Condition, Conds};
use crate::error::Result;
use crate::run::{SourceStats, Translator};

/// What a row is conditioned on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RowCond {
    None,
    Label(i64),
    Source(Vec<i64>),
}

impl Engine {
    /// The condition of a request: a label, a source or none, as the run needs.
    pub(super) fn row_cond(
        &self,
        label: Option<&str>,
        source: Option<&str>,
        stats: &mut SourceStats,
    ) -> Result<Option<RowCond>> {
        let v = &self.gen.vocab;
        let parallel = self.gen.config.data.is_parallel();
        if let Some(l) = label {
            if source.is_some() {
                return Err(invalid("give a label or a source, not both"));
            }
            return v.label_id(l).map(|id| Some(RowCond::Label(id)));
        }
        match (source, parallel) {
            (None, false) => Ok(None),
            (Some(_), false) => Err(invalid(
                "source: this run was not trained on a parallel corpus; it generates without one",
            )),
            (None, true) => Err(invalid(
                "this run generates from a source sentence: give source",
            )),
            (Some(s), true) => {
                let ids = Translator::new(&self.gen)?.encode(s, stats)?;
                match ids.is_empty() {
                    true => Err(invalid("source is empty")),
                    false => Ok(Some(RowCond::Source(ids))),
                }
            }
        }
    }

    /// The ids of text a user wrote: a special token typed as text (`<eos>`, `<pad>`,
    /// `<bos>`) is a word the vocabulary does not know, not the marker.
    pub(super) fn encode_user(&self, text: &str) -> Result<Vec<i64>> {
        let v = &self.gen.vocab;
        let special = [v.pad, Some(v.bos), v.eos];
        let mut ids = v.encode(text)?;
        if let Some(unk) = v.unk {
            for t in ids.iter_mut() {
                if special.contains(&Some(*t)) {
                    *t = unk;
                }
            }
        }
        Ok(ids)
    }

    /// The condition tensor of rows.
    pub(super) fn condition(&self, conds: &[RowCond]) -> Condition {
        let dev = self.device();
        match conds.first() {
            Some(RowCond::Label(_)) => {
                let ids: Vec<i64> = conds
                    .iter()
                    .map(|c| match c {
                        RowCond::Label(l) => *l,
                        _ => 0,
                    })
                    .collect();
                Conds::Labels(&ids).pick(0..ids.len(), dev)
            }
            Some(RowCond::Source(_)) => {
                let rows: Vec<Vec<i64>> = conds
                    .iter()
                    .map(|c| match c {
                        RowCond::Source(s) => s.clone(),
                        _ => vec![],
                    })
                    .collect();
                let tr = Translator::new(&self.gen).expect("checked when prepared");
                let pad = tr.source_pad();
                Conds::Sources(&rows, pad).pick(0..rows.len(), dev)
            }
            _ => Condition::None,
        }
    }
}

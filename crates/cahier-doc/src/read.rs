//! Reading a document into a [`DocView`], at its current state or at any version.
//!
//! Reading never panics and never fails: a missing or mistyped field becomes a
//! default value plus a [`Problem`]. Strings are accepted both as Automerge text
//! objects (what Cahier and JavaScript clients write) and as plain string scalars.

use automerge::{Automerge, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use crate::schema::{Action, DEFAULT_LICENSE, DocView, Kind, MinutesFields, Problem, SCHEMA_VERSION, Status, key};

/// Reads the document as it is now (`heads == None`) or as it was at `heads`.
pub fn read(doc: &Automerge, heads: Option<&[ChangeHash]>) -> (DocView, Vec<Problem>) {
    let r = Reader { doc, heads, problems: Vec::new() };
    r.read_view()
}

/// A read cursor over one document at one version, collecting problems as it goes.
pub(crate) struct Reader<'a> {
    pub(crate) doc: &'a Automerge,
    pub(crate) heads: Option<&'a [ChangeHash]>,
    problems: Vec<Problem>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(doc: &'a Automerge, heads: Option<&'a [ChangeHash]>) -> Reader<'a> {
        Reader { doc, heads, problems: Vec::new() }
    }

    fn read_view(mut self) -> (DocView, Vec<Problem>) {
        let kind = match self.string(&ROOT, key::KIND, "") {
            Some(s) => Kind::parse(&s).unwrap_or_else(|| {
                self.problem(key::KIND, format!("unknown kind {s:?}, read as a page"));
                Kind::Page
            }),
            None => {
                self.problem(key::KIND, "missing, read as a page");
                Kind::Page
            }
        };
        let schema_version = match self.get(&ROOT, key::SCHEMA_VERSION) {
            Some(Value::Scalar(s)) => match scalar_as_u64(&s) {
                Some(v) => v,
                None => {
                    self.problem(key::SCHEMA_VERSION, "not a whole number");
                    SCHEMA_VERSION
                }
            },
            Some(Value::Object(_)) => {
                self.problem(key::SCHEMA_VERSION, "not a whole number");
                SCHEMA_VERSION
            }
            None => {
                self.problem(key::SCHEMA_VERSION, "missing");
                SCHEMA_VERSION
            }
        };
        if schema_version > SCHEMA_VERSION {
            self.problem(
                key::SCHEMA_VERSION,
                format!(
                    "written by a newer Cahier (schema {schema_version}, this one knows {SCHEMA_VERSION}); fields it does not know are ignored"
                ),
            );
        }
        let title = self.required_string(&ROOT, key::TITLE, "");
        let slug = self.required_string(&ROOT, key::SLUG, "");
        let body = self.required_string(&ROOT, key::BODY, "");
        let tags = self.string_list(&ROOT, key::TAGS, "");
        let license = self.string(&ROOT, key::LICENSE, "").unwrap_or_else(|| DEFAULT_LICENSE.to_owned());
        let status = match self.string(&ROOT, key::STATUS, "") {
            Some(s) => Status::parse(&s).unwrap_or_else(|| {
                self.problem(key::STATUS, format!("unknown status {s:?}, read as draft"));
                Status::Draft
            }),
            None => Status::Draft,
        };
        let created_ms = self.timestamp(&ROOT, key::CREATED_AT, "");
        let updated_ms = self.timestamp(&ROOT, key::UPDATED_AT, "");
        let imported_credits = self.string_list(&ROOT, key::IMPORTED_CREDITS, "");
        let minutes = match kind {
            Kind::Page => None,
            Kind::Minutes => Some(self.minutes_fields()),
        };
        let view =
            DocView { kind, schema_version, title, slug, body, tags, license, status, created_ms, updated_ms, imported_credits, minutes };
        // Comments are not part of the view (nothing that renders for readers
        // sees them); what is wrong with them is reported all the same.
        let (_, comment_problems) = crate::comments::comments(self.doc, self.heads);
        self.problems.extend(comment_problems);
        (view, self.problems)
    }

    fn minutes_fields(&mut self) -> MinutesFields {
        let mut actions = Vec::new();
        if let Some(list) = self.list(&ROOT, key::ACTIONS, "") {
            for i in 0..self.length(&list) {
                let path = format!("{}/{i}/", key::ACTIONS);
                match self.get(&list, i) {
                    Some(Value::Object(ObjType::Map)) => {
                        let Some(obj) = self.get_obj(&list, i) else { continue };
                        let done = match self.get(&obj, key::DONE) {
                            Some(Value::Scalar(s)) => match s.as_ref() {
                                ScalarValue::Boolean(b) => *b,
                                _ => {
                                    self.problem(&format!("{path}{}", key::DONE), "not true or false");
                                    false
                                }
                            },
                            _ => false,
                        };
                        actions.push(Action {
                            text: self.string(&obj, key::TEXT, &path).unwrap_or_default(),
                            owner: self.string(&obj, key::OWNER, &path).unwrap_or_default(),
                            due: self.string(&obj, key::DUE, &path).unwrap_or_default(),
                            done,
                        });
                    }
                    _ => self.problem(&format!("{}/{i}", key::ACTIONS), "not an action (a map), skipped"),
                }
            }
        }
        MinutesFields {
            starts_at: self.string(&ROOT, key::STARTS_AT, "").unwrap_or_default(),
            place: self.string(&ROOT, key::PLACE, "").unwrap_or_default(),
            facilitator: self.string(&ROOT, key::FACILITATOR, "").unwrap_or_default(),
            participants: self.string_list(&ROOT, key::PARTICIPANTS, ""),
            agenda: self.string_list(&ROOT, key::AGENDA, ""),
            decisions: self.string_list(&ROOT, key::DECISIONS, ""),
            actions,
        }
    }

    fn problem(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem { path: path.to_owned(), message: message.into() });
    }

    pub(crate) fn get<P: Into<automerge::Prop>>(&self, obj: &ObjId, prop: P) -> Option<Value<'static>> {
        let got = match self.heads {
            None => self.doc.get(obj, prop),
            Some(h) => self.doc.get_at(obj, prop, h),
        };
        got.ok().flatten().map(|(v, _)| v.into_owned())
    }

    pub(crate) fn get_obj<P: Into<automerge::Prop>>(&self, obj: &ObjId, prop: P) -> Option<ObjId> {
        let got = match self.heads {
            None => self.doc.get(obj, prop),
            Some(h) => self.doc.get_at(obj, prop, h),
        };
        match got.ok().flatten() {
            Some((Value::Object(_), id)) => Some(id),
            _ => None,
        }
    }

    pub(crate) fn length(&self, obj: &ObjId) -> usize {
        match self.heads {
            None => self.doc.length(obj),
            Some(h) => self.doc.length_at(obj, h),
        }
    }

    pub(crate) fn text(&self, obj: &ObjId) -> Option<String> {
        match self.heads {
            None => self.doc.text(obj),
            Some(h) => self.doc.text_at(obj, h),
        }
        .ok()
    }

    /// The text object under `prop`, if it is one.
    pub(crate) fn text_obj(&self, obj: &ObjId, prop: &str) -> Option<ObjId> {
        match self.get(obj, prop) {
            Some(Value::Object(ObjType::Text)) => self.get_obj(obj, prop),
            _ => None,
        }
    }

    fn string_at<P: Into<automerge::Prop> + Clone>(&mut self, obj: &ObjId, prop: P, path: &str) -> Option<String> {
        match self.get(obj, prop.clone()) {
            None => None,
            Some(Value::Object(ObjType::Text)) => {
                let id = self.get_obj(obj, prop)?;
                self.text(&id)
            }
            Some(Value::Scalar(s)) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                ScalarValue::Null => None,
                other => {
                    self.problem(path, format!("expected text, found {other}"));
                    Some(other.to_string())
                }
            },
            Some(Value::Object(t)) => {
                self.problem(path, format!("expected text, found a {t}"));
                None
            }
        }
    }

    fn string(&mut self, obj: &ObjId, k: &str, prefix: &str) -> Option<String> {
        let path = format!("{prefix}{k}");
        self.string_at(obj, k, &path)
    }

    fn required_string(&mut self, obj: &ObjId, k: &str, prefix: &str) -> String {
        match self.string(obj, k, prefix) {
            Some(s) => s,
            None => {
                self.problem(&format!("{prefix}{k}"), "missing");
                String::new()
            }
        }
    }

    fn list(&mut self, obj: &ObjId, k: &str, prefix: &str) -> Option<ObjId> {
        match self.get(obj, k) {
            None => None,
            Some(Value::Object(ObjType::List)) => self.get_obj(obj, k),
            Some(_) => {
                self.problem(&format!("{prefix}{k}"), "expected a list");
                None
            }
        }
    }

    fn string_list(&mut self, obj: &ObjId, k: &str, prefix: &str) -> Vec<String> {
        let Some(list) = self.list(obj, k, prefix) else { return Vec::new() };
        let mut out = Vec::new();
        for i in 0..self.length(&list) {
            let path = format!("{prefix}{k}/{i}");
            if let Some(s) = self.string_at(&list, i, &path) {
                out.push(s);
            }
        }
        out
    }

    fn timestamp(&mut self, obj: &ObjId, k: &str, prefix: &str) -> Option<i64> {
        match self.get(obj, k) {
            None => None,
            Some(Value::Scalar(s)) => match s.as_ref() {
                ScalarValue::Timestamp(t) | ScalarValue::Int(t) => Some(*t),
                ScalarValue::Uint(t) => i64::try_from(*t).ok(),
                ScalarValue::F64(f) if f.is_finite() => Some(*f as i64),
                ScalarValue::Null => None,
                _ => {
                    self.problem(&format!("{prefix}{k}"), "expected a date");
                    None
                }
            },
            Some(_) => {
                self.problem(&format!("{prefix}{k}"), "expected a date");
                None
            }
        }
    }
}

fn scalar_as_u64(s: &ScalarValue) -> Option<u64> {
    match s {
        ScalarValue::Uint(u) => Some(*u),
        ScalarValue::Int(i) => u64::try_from(*i).ok(),
        ScalarValue::F64(f) if f.fract() == 0.0 && *f >= 0.0 && *f < 1e15 => Some(*f as u64),
        _ => None,
    }
}

/// What the document list needs to know, read without the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// `None` when the document is not a Cahier page or minutes (no valid `kind`).
    pub kind: Option<Kind>,
    pub title: String,
    pub slug: String,
    pub status: Status,
    pub updated_ms: Option<i64>,
}

/// Reads the fields of the document list (cheap: the body is not materialised).
pub fn summary(doc: &Automerge) -> Summary {
    let mut r = Reader::new(doc, None);
    let kind = r.string(&ROOT, key::KIND, "").and_then(|k| Kind::parse(&k));
    Summary {
        kind,
        title: r.string(&ROOT, key::TITLE, "").unwrap_or_default(),
        slug: r.string(&ROOT, key::SLUG, "").unwrap_or_default(),
        status: r.string(&ROOT, key::STATUS, "").and_then(|s| Status::parse(&s)).unwrap_or(Status::Draft),
        updated_ms: r.timestamp(&ROOT, key::UPDATED_AT, ""),
    }
}

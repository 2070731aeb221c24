//! The document schema: field names, kinds, and the typed view over a document.
//!
//! The persisted format is the Automerge document itself; [`DocView`] is a typed
//! reading of it, not a mirror that gets serialised. `docs/schema.md` describes the
//! same fields as a JavaScript client sees them.

/// The schema version this build writes. Documents with a larger one are read as far
/// as possible and reported with a problem.
pub const SCHEMA_VERSION: u64 = 1;

/// The licence a page carries unless it says otherwise (an SPDX identifier).
pub const DEFAULT_LICENSE: &str = "CC-BY-4.0";

/// Root keys, shared by both kinds.
pub mod key {
    pub const KIND: &str = "kind";
    pub const SCHEMA_VERSION: &str = "schemaVersion";
    pub const TITLE: &str = "title";
    pub const SLUG: &str = "slug";
    pub const BODY: &str = "body";
    pub const TAGS: &str = "tags";
    pub const LICENSE: &str = "license";
    pub const STATUS: &str = "status";
    pub const CREATED_AT: &str = "createdAt";
    pub const UPDATED_AT: &str = "updatedAt";
    pub const IMPORTED_CREDITS: &str = "importedCredits";
    /// Comments on the notes (`comments.rs`), never published.
    pub const COMMENTS: &str = "comments";
    // minutes only
    pub const STARTS_AT: &str = "startsAt";
    pub const PLACE: &str = "place";
    pub const FACILITATOR: &str = "facilitator";
    pub const PARTICIPANTS: &str = "participants";
    pub const AGENDA: &str = "agenda";
    pub const DECISIONS: &str = "decisions";
    pub const ACTIONS: &str = "actions";
    // inside an action
    pub const TEXT: &str = "text";
    pub const OWNER: &str = "owner";
    pub const DUE: &str = "due";
    pub const DONE: &str = "done";
    // inside a comment (with `text` and `createdAt`)
    pub const START: &str = "start";
    pub const END: &str = "end";
    pub const RESOLVED: &str = "resolved";
    pub const REPLIES: &str = "replies";
    // inside a reply (with `text` and `createdAt`)
    pub const ID: &str = "id";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Page,
    Minutes,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Page => "page",
            Kind::Minutes => "minutes",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "page" => Some(Kind::Page),
            "minutes" => Some(Kind::Minutes),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Draft,
    Published,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Published => "published",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "draft" => Some(Status::Draft),
            "published" => Some(Status::Published),
            _ => None,
        }
    }
}

/// A typed view of a page or a set of minutes at some version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocView {
    pub kind: Kind,
    pub schema_version: u64,
    pub title: String,
    pub slug: String,
    /// Markdown.
    pub body: String,
    pub tags: Vec<String>,
    /// SPDX identifier.
    pub license: String,
    pub status: Status,
    /// Milliseconds since the Unix epoch (a JavaScript `Date`).
    pub created_ms: Option<i64>,
    pub updated_ms: Option<i64>,
    /// Credits carried in by an import: the people who wrote the imported text
    /// before it came into Cahier.
    pub imported_credits: Vec<String>,
    /// Present for minutes, `None` for pages.
    pub minutes: Option<MinutesFields>,
}

/// The structured parts of a set of minutes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinutesFields {
    /// Local date and time as typed in a form, e.g. `2026-11-20T18:30`.
    pub starts_at: String,
    /// A room, an address or a link.
    pub place: String,
    pub facilitator: String,
    pub participants: Vec<String>,
    pub agenda: Vec<String>,
    pub decisions: Vec<String>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Action {
    pub text: String,
    pub owner: String,
    /// A date, `YYYY-MM-DD`, or empty.
    pub due: String,
    pub done: bool,
}

/// Something wrong with a document, found while reading it. Reading never fails:
/// it returns the best view it can and the list of what it had to work around.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, as a path of keys and indices, e.g. `actions/2/done`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl DocView {
    /// A blank page with the defaults.
    pub fn new_page(title: &str) -> DocView {
        DocView {
            kind: Kind::Page,
            schema_version: SCHEMA_VERSION,
            title: title.to_owned(),
            slug: slugify(title),
            body: String::new(),
            tags: Vec::new(),
            license: DEFAULT_LICENSE.to_owned(),
            status: Status::Draft,
            created_ms: None,
            updated_ms: None,
            imported_credits: Vec::new(),
            minutes: None,
        }
    }

    /// Blank minutes with the defaults.
    pub fn new_minutes(title: &str) -> DocView {
        DocView { kind: Kind::Minutes, minutes: Some(MinutesFields::default()), ..DocView::new_page(title) }
    }
}

/// Makes a URL slug from a title: lowercase ASCII letters, digits and hyphens,
/// accents removed (`Écoles ouvertes` → `ecoles-ouvertes`).
pub fn slugify(title: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut slug = String::new();
    let mut pending_hyphen = false;
    for c in title.nfkd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        let c = match c {
            'œ' | 'Œ' => {
                push_word(&mut slug, &mut pending_hyphen, "oe");
                continue;
            }
            'æ' | 'Æ' => {
                push_word(&mut slug, &mut pending_hyphen, "ae");
                continue;
            }
            'ß' => {
                push_word(&mut slug, &mut pending_hyphen, "ss");
                continue;
            }
            c => c.to_ascii_lowercase(),
        };
        if c.is_ascii_alphanumeric() {
            if pending_hyphen && !slug.is_empty() {
                slug.push('-');
            }
            pending_hyphen = false;
            slug.push(c);
        } else {
            pending_hyphen = true;
        }
    }
    if slug.is_empty() { "page".to_owned() } else { slug }
}

fn push_word(slug: &mut String, pending_hyphen: &mut bool, word: &str) {
    if *pending_hyphen && !slug.is_empty() {
        slug.push('-');
    }
    *pending_hyphen = false;
    slug.push_str(word);
}

/// The longest slug there may be.
pub const MAX_SLUG: usize = 200;

/// Whether a slug is of the form [`slugify`] produces.
pub fn is_valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= MAX_SLUG
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

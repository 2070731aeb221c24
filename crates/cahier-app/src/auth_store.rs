//! Accounts, API tokens and the audit log, kept as records in the store.
//! Secrets are stored only as digests.

use cahier_auth::{Principal, Role};
use cahier_store::Store;

use crate::error::{Error, Result, corrupt, json};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: String,
    pub account: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at_ms: i64,
    pub who: String,
    pub action: String,
    pub target: String,
}

fn parse<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(key, e))
}

pub fn account(store: &Store, name: &str) -> Result<Option<Account>> {
    let key = format!("acct/{name}");
    store.record(&key)?.map(|b| parse(&key, &b)).transpose()
}

pub fn accounts(store: &Store) -> Result<Vec<Account>> {
    store.records("acct/")?.iter().map(|(k, v)| parse(k, v)).collect()
}

/// Creates an account, or changes the role and password of an existing one.
pub fn put_account(store: &Store, name: &str, role: Role, password: &str, salt: [u8; 16], by: &str, now_ms: i64) -> Result<bool> {
    let existing = account(store, name)?;
    let created = existing.is_none();
    let writes = account_writes(store, name, role, password, salt, existing.map(|a| a.created_ms), by, now_ms)?;
    store.put_records(writes)?;
    Ok(created)
}

/// The records that create (`created_ms` none) or change an account, with
/// their audit entry.
#[allow(clippy::too_many_arguments)]
fn account_writes(
    store: &Store,
    name: &str,
    role: Role,
    password: &str,
    salt: [u8; 16],
    created_ms: Option<i64>,
    by: &str,
    now_ms: i64,
) -> Result<Vec<(String, Option<Vec<u8>>)>> {
    if !cahier_auth::is_valid_name(name) || name.contains('/') {
        return Err(Error::Invalid(format!("invalid account name {name:?}")));
    }
    let hash = cahier_auth::hash_password(password, salt).map_err(|e| Error::Invalid(e.to_string()))?;
    let account = Account { name: name.to_owned(), role, password_hash: hash, created_ms: created_ms.unwrap_or(now_ms) };
    let action = if created_ms.is_none() { "account created" } else { "account changed" };
    let event = AuditEvent { at_ms: now_ms, who: by.to_owned(), action: action.into(), target: format!("{name} ({})", role.as_str()) };
    Ok(vec![(format!("acct/{name}"), Some(json(&account)?)), audit_write(store, &event)?])
}

/// Creates an API token with the account's rights. Returns its id and the secret,
/// which is shown once and never stored.
pub fn create_token(
    store: &Store,
    account_name: &str,
    id_random: [u8; 8],
    secret_random: [u8; 32],
    now_ms: i64,
) -> Result<(String, String)> {
    if account(store, account_name)?.is_none() {
        return Err(Error::NotFound(format!("no account named {account_name:?}")));
    }
    let id: String = id_random.iter().map(|b| format!("{b:02x}")).collect();
    let secret = cahier_auth::new_secret(secret_random);
    let token = ApiToken { id: id.clone(), account: account_name.to_owned(), created_ms: now_ms };
    let digest = cahier_auth::digest(&secret);
    let event = AuditEvent { at_ms: now_ms, who: account_name.to_owned(), action: "token created".into(), target: id.clone() };
    store.put_records(vec![
        (format!("tok/{digest}"), Some(json(&token)?)),
        (format!("tokid/{id}"), Some(digest.into_bytes())),
        audit_write(store, &event)?,
    ])?;
    Ok((id, secret))
}

pub fn revoke_token(store: &Store, id: &str, by: &str, now_ms: i64) -> Result<()> {
    let Some(digest) = store.record(&format!("tokid/{id}"))? else {
        return Err(Error::NotFound(format!("no token with id {id:?}")));
    };
    let digest = String::from_utf8_lossy(&digest).into_owned();
    let event = AuditEvent { at_ms: now_ms, who: by.to_owned(), action: "token revoked".into(), target: id.to_owned() };
    store.put_records(vec![(format!("tok/{digest}"), None), (format!("tokid/{id}"), None), audit_write(store, &event)?])?;
    Ok(())
}

pub fn tokens(store: &Store) -> Result<Vec<ApiToken>> {
    store.records("tok/")?.iter().map(|(k, v)| parse(k, v)).collect()
}

/// Who a token belongs to, with the account's current role; `None` if the token is
/// unknown, revoked, or its account is gone.
pub fn token_principal(store: &Store, secret: &str) -> Result<Option<Principal>> {
    if !cahier_auth::is_well_formed_secret(secret) {
        return Ok(None);
    }
    let key = format!("tok/{}", cahier_auth::digest(secret));
    let Some(bytes) = store.record(&key)? else { return Ok(None) };
    let token: ApiToken = parse(&key, &bytes)?;
    Ok(account(store, &token.account)?.map(|a| Principal::Account { name: a.name, role: a.role }))
}

pub(crate) fn audit_write(store: &Store, e: &AuditEvent) -> Result<(String, Option<Vec<u8>>)> {
    // Keys in the order events happened: time, then the store's increasing counter.
    let seq = store.backend().next_key()?;
    Ok((format!("audit/{:020}-{seq:020}", e.at_ms.max(0)), Some(json(e)?)))
}

pub fn audit_log(store: &Store) -> Result<Vec<AuditEvent>> {
    store.records("audit/")?.iter().map(|(k, v)| parse(k, v)).collect()
}

/// A logged-in browser. The cookie holds the secret; the store only its digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The account; empty for a guest.
    pub account: String,
    /// The CSRF token forms of this session must carry.
    pub csrf: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// For a participant who joined through an invite link: which one, and the
    /// name they chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<GuestSession>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestSession {
    pub invite: String,
    pub name: String,
}

/// How long a session lasts.
pub const SESSION_MS: i64 = 14 * 24 * 3600 * 1000;

/// Checks a password and, if it is right, opens a new session (a new id every
/// time: an id planted before login is never reused). Returns the cookie secret.
pub fn login(
    store: &Store,
    name: &str,
    password: &str,
    secret_random: [u8; 32],
    csrf_random: [u8; 32],
    now_ms: i64,
) -> Result<Option<(String, Session)>> {
    let Some(acct) = account(store, name)? else {
        // Spend the same time as a wrong password, so that probing for account
        // names by timing does not work.
        let _ = cahier_auth::verify_password(password, dummy_hash());
        return Ok(None);
    };
    if !cahier_auth::verify_password(password, &acct.password_hash) {
        return Ok(None);
    }
    let secret = cahier_auth::new_secret(secret_random);
    let session = Session {
        account: acct.name,
        csrf: cahier_auth::new_secret(csrf_random),
        created_ms: now_ms,
        expires_ms: now_ms + SESSION_MS,
        guest: None,
    };
    open_session(store, &secret, &session, now_ms)?;
    Ok(Some((secret, session)))
}

/// Most sessions one account keeps open: logging in once more ends the oldest.
pub const MAX_SESSIONS_PER_ACCOUNT: usize = 16;
/// Most guest sessions one invite link keeps open (a large meeting's
/// audience): joining once more ends the oldest.
pub const MAX_SESSIONS_PER_INVITE: usize = 1000;

/// Stores a new session, and in the same write removes the sessions that no
/// longer open anything and the oldest of its owner's beyond the limit.
fn open_session(store: &Store, secret: &str, session: &Session, now_ms: i64) -> Result<()> {
    let mut writes = purge_writes(store, now_ms, Some(session))?;
    writes.push((format!("sess/{}", cahier_auth::digest(secret)), Some(json(session)?)));
    store.put_records(writes)?;
    Ok(())
}

/// Removes the sessions that no longer open anything: expired, or a guest's
/// whose invite expired or was revoked. Returns how many. Logins and joins do
/// it too; the server also runs it periodically.
pub fn purge_sessions(store: &Store, now_ms: i64) -> Result<usize> {
    let writes = purge_writes(store, now_ms, None)?;
    let n = writes.len();
    if n > 0 {
        store.put_records(writes)?;
    }
    Ok(n)
}

/// The removals [`purge_sessions`] makes, and, when `adding` a session, those
/// of its owner's oldest sessions that would exceed their limit.
fn purge_writes(store: &Store, now_ms: i64, adding: Option<&Session>) -> Result<Vec<(String, Option<Vec<u8>>)>> {
    let working: std::collections::HashSet<String> =
        invites(store)?.into_iter().filter(|i| i.status(now_ms) == InviteStatus::Active).map(|i| i.id).collect();
    let same_owner = |a: &Session, b: &Session| match (&a.guest, &b.guest) {
        (None, None) => a.account == b.account,
        (Some(a), Some(b)) => a.invite == b.invite,
        _ => false,
    };
    let mut writes = Vec::new();
    let mut owners = Vec::new();
    for (key, bytes) in store.records("sess/")? {
        // A record that does not parse is left for `session` to report.
        let Ok(s) = parse::<Session>(&key, &bytes) else { continue };
        if s.expires_ms <= now_ms || s.guest.as_ref().is_some_and(|g| !working.contains(&g.invite)) {
            writes.push((key, None));
        } else if adding.is_some_and(|new| same_owner(&s, new)) {
            owners.push((s.created_ms, key));
        }
    }
    if let Some(new) = adding {
        let limit = if new.guest.is_some() { MAX_SESSIONS_PER_INVITE } else { MAX_SESSIONS_PER_ACCOUNT };
        owners.sort();
        let excess = (owners.len() + 1).saturating_sub(limit);
        writes.extend(owners.into_iter().take(excess).map(|(_, key)| (key, None)));
    }
    Ok(writes)
}

/// An argon2id hash of a password nobody types, to verify against when the account does not exist.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| cahier_auth::hash_password("no account has this password", [7; 16]).unwrap_or_default())
}

/// The session a cookie secret opens, with the account's current role, if it is
/// still valid.
pub fn session(store: &Store, secret: &str, now_ms: i64) -> Result<Option<(Principal, Session)>> {
    if !cahier_auth::is_well_formed_secret(secret) {
        return Ok(None);
    }
    let key = format!("sess/{}", cahier_auth::digest(secret));
    let Some(bytes) = store.record(&key)? else { return Ok(None) };
    let s: Session = parse(&key, &bytes)?;
    if s.expires_ms <= now_ms {
        store.put_records(vec![(key, None)])?;
        return Ok(None);
    }
    if let Some(g) = &s.guest {
        // A guest's rights last as long as their invite: revoked or expired, gone.
        let Some(inv) = invite_by_id(store, &g.invite, now_ms)? else { return Ok(None) };
        let who = Principal::Guest { name: g.name.clone(), doc: inv.doc, write: inv.write, invite: inv.id };
        return Ok(Some((who, s)));
    }
    Ok(account(store, &s.account)?.map(|a| (Principal::Account { name: a.name, role: a.role }, s)))
}

pub fn logout(store: &Store, secret: &str) -> Result<()> {
    if cahier_auth::is_well_formed_secret(secret) {
        store.put_records(vec![(format!("sess/{}", cahier_auth::digest(secret)), None)])?;
    }
    Ok(())
}

/// Whose an Automerge actor is: recorded the first time an authenticated
/// connection writes with it, so that history and credits show names, not hex.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActorBinding {
    /// `account:NAME` or `guest:INVITE:NAME`.
    pub identity: String,
    /// The name credits show.
    pub name: String,
    pub at_ms: i64,
}

pub fn actor_binding(store: &Store, actor: &str) -> Result<Option<ActorBinding>> {
    let key = format!("actor/{actor}");
    store.record(&key)?.map(|b| parse(&key, &b)).transpose()
}

/// Records several actors' owners in one durable write.
pub fn bind_actors(store: &Store, bindings: &[(String, ActorBinding)]) -> Result<()> {
    let writes = bindings.iter().map(|(actor, b)| Ok((format!("actor/{actor}"), Some(json(b)?)))).collect::<Result<Vec<_>>>()?;
    store.put_records(writes)?;
    Ok(())
}

/// Every actor's binding, by actor.
fn actor_bindings<T>(store: &Store, field: impl Fn(ActorBinding) -> T) -> Result<std::collections::HashMap<String, T>> {
    let mut m = std::collections::HashMap::new();
    for (k, v) in store.records("actor/")? {
        let b: ActorBinding = parse(&k, &v)?;
        m.insert(k.trim_start_matches("actor/").to_owned(), field(b));
    }
    Ok(m)
}

/// Every actor's owner (`account:NAME`, `guest:INVITE:NAME`), by actor.
pub fn actor_identities(store: &Store) -> Result<std::collections::HashMap<String, String>> {
    actor_bindings(store, |b| b.identity)
}

/// Every actor's name, for credits and history.
pub fn actor_names(store: &Store) -> Result<std::collections::HashMap<String, String>> {
    actor_bindings(store, |b| b.name)
}

/// Who wrote the surviving text of `doc` at `heads`, with names for actors bound
/// to accounts and guests.
pub fn credits(store: &Store, doc: &automerge::Automerge, heads: Option<&[automerge::ChangeHash]>) -> Result<Vec<String>> {
    let names = actor_names(store)?;
    Ok(cahier_doc::contributors_named(doc, heads, &|a| names.get(a).cloned()).into_iter().map(|c| c.name).collect())
}

/// Whether some maintainer account exists.
pub fn has_maintainer(store: &Store) -> Result<bool> {
    Ok(accounts(store)?.iter().any(|a| a.role == Role::Maintainer))
}

/// A one-time setup secret that lets its holder create the first maintainer.
/// Replaces any earlier one. Valid for a day.
pub fn create_setup_secret(store: &Store, random: [u8; 32], now_ms: i64) -> Result<String> {
    let secret = cahier_auth::new_secret(random);
    let mut writes: Vec<(String, Option<Vec<u8>>)> = store.records("setup/")?.into_iter().map(|(k, _)| (k, None)).collect();
    writes.push((format!("setup/{}", cahier_auth::digest(&secret)), Some(json(&(now_ms + 24 * 3600 * 1000))?)));
    store.put_records(writes)?;
    Ok(secret)
}

/// Whether a setup secret is valid now (and no maintainer exists yet).
pub fn setup_secret_ok(store: &Store, secret: &str, now_ms: i64) -> Result<bool> {
    if !cahier_auth::is_well_formed_secret(secret) || has_maintainer(store)? {
        return Ok(false);
    }
    let key = format!("setup/{}", cahier_auth::digest(secret));
    let Some(bytes) = store.record(&key)? else { return Ok(false) };
    let expires: i64 = parse(&key, &bytes)?;
    Ok(expires > now_ms)
}

/// Uses a setup secret: creates the first maintainer and forgets the secret,
/// in one write. Two requests with the same link create one account: the
/// other is told the link was used ([`Error::Conflict`]), and no existing
/// account is ever changed through a setup link.
pub fn complete_setup(store: &Store, secret: &str, name: &str, password: &str, salt: [u8; 16], now_ms: i64) -> Result<()> {
    // The check and the write are one step for this process. (Two nodes
    // sharing a database could still both pass the check: the store has no
    // conditional write; a node only prints a link when no maintainer exists.)
    static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = SETUP.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !setup_secret_ok(store, secret, now_ms)? {
        return Err(Error::Conflict("this setup link has been used or has expired".into()));
    }
    if account(store, name)?.is_some() {
        return Err(Error::Conflict(format!("an account named {name:?} exists already; choose another name")));
    }
    let mut writes = account_writes(store, name, Role::Maintainer, password, salt, None, "setup link", now_ms)?;
    writes.push((format!("setup/{}", cahier_auth::digest(secret)), None));
    store.put_records(writes)?;
    Ok(())
}

/// An invite link to one set of minutes (or any document): edit or view.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invite {
    pub id: String,
    pub doc: String,
    pub write: bool,
    pub created_by: String,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    /// When a maintainer revoked it: the record stays, so that its link can
    /// say it no longer works and the document's list can show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_ms: Option<i64>,
}

/// Whether an invite link still opens its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteStatus {
    Active,
    Expired,
    Revoked,
}

impl InviteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InviteStatus::Active => "active",
            InviteStatus::Expired => "expired",
            InviteStatus::Revoked => "revoked",
        }
    }
}

impl Invite {
    pub fn status(&self, now_ms: i64) -> InviteStatus {
        if self.revoked_ms.is_some() {
            InviteStatus::Revoked
        } else if self.expires_ms.is_some_and(|e| e <= now_ms) {
            InviteStatus::Expired
        } else {
            InviteStatus::Active
        }
    }
}

/// Creates an invite link's secret (256 random bits, not the document id; only
/// its digest is stored). Returns the invite and the secret, shown once.
#[allow(clippy::too_many_arguments)]
pub fn create_invite(
    store: &Store,
    doc: &cahier_doc::DocId,
    write: bool,
    by: &str,
    expires_ms: Option<i64>,
    id_random: [u8; 8],
    secret_random: [u8; 32],
    now_ms: i64,
) -> Result<(Invite, String)> {
    let id: String = id_random.iter().map(|b| format!("{b:02x}")).collect();
    let secret = cahier_auth::new_secret(secret_random);
    let inv =
        Invite { id: id.clone(), doc: doc.to_string(), write, created_by: by.to_owned(), created_ms: now_ms, expires_ms, revoked_ms: None };
    let digest = cahier_auth::digest(&secret);
    let event = AuditEvent {
        at_ms: now_ms,
        who: by.to_owned(),
        action: "invite created".into(),
        target: format!("{id} ({}, {doc})", if write { "edit" } else { "view" }),
    };
    store.put_records(vec![
        (format!("inv/{digest}"), Some(json(&inv)?)),
        (format!("invid/{id}"), Some(digest.into_bytes())),
        audit_write(store, &event)?,
    ])?;
    Ok((inv, secret))
}

fn valid(inv: Invite, now_ms: i64) -> Option<Invite> {
    (inv.status(now_ms) == InviteStatus::Active).then_some(inv)
}

/// The invite a link's secret opens, if it is still valid.
pub fn invite_by_secret(store: &Store, secret: &str, now_ms: i64) -> Result<Option<Invite>> {
    Ok(any_invite_by_secret(store, secret)?.and_then(|inv| valid(inv, now_ms)))
}

/// The invite a link's secret names, valid or not (to tell people why a link
/// no longer works); none for a secret Cahier never made.
pub fn any_invite_by_secret(store: &Store, secret: &str) -> Result<Option<Invite>> {
    if !cahier_auth::is_well_formed_secret(secret) {
        return Ok(None);
    }
    let key = format!("inv/{}", cahier_auth::digest(secret));
    let Some(bytes) = store.record(&key)? else { return Ok(None) };
    Ok(Some(parse(&key, &bytes)?))
}

pub fn invite_by_id(store: &Store, id: &str, now_ms: i64) -> Result<Option<Invite>> {
    let Some(digest) = store.record(&format!("invid/{id}"))? else { return Ok(None) };
    let key = format!("inv/{}", String::from_utf8_lossy(&digest));
    let Some(bytes) = store.record(&key)? else { return Ok(None) };
    Ok(valid(parse(&key, &bytes)?, now_ms))
}

/// Every invite, revoked and expired ones included.
pub fn invites(store: &Store) -> Result<Vec<Invite>> {
    store.records("inv/")?.iter().map(|(k, v)| parse(k, v)).collect()
}

/// A document's invites, newest first.
pub fn invites_of(store: &Store, doc: &cahier_doc::DocId) -> Result<Vec<Invite>> {
    let mut list: Vec<Invite> = invites(store)?.into_iter().filter(|i| i.doc == doc.as_str()).collect();
    list.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then_with(|| a.id.cmp(&b.id)));
    Ok(list)
}

/// Marks an invite revoked: its link and the guest sessions opened with it
/// stop working. Revoking it again changes nothing.
pub fn revoke_invite(store: &Store, id: &str, by: &str, now_ms: i64) -> Result<()> {
    let Some(digest) = store.record(&format!("invid/{id}"))? else {
        return Err(Error::NotFound(format!("no invite with id {id:?}")));
    };
    let key = format!("inv/{}", String::from_utf8_lossy(&digest));
    let Some(bytes) = store.record(&key)? else {
        return Err(Error::NotFound(format!("no invite with id {id:?}")));
    };
    let mut inv: Invite = parse(&key, &bytes)?;
    if inv.revoked_ms.is_some() {
        return Ok(());
    }
    inv.revoked_ms = Some(now_ms);
    let event = AuditEvent { at_ms: now_ms, who: by.to_owned(), action: "invite revoked".into(), target: id.to_owned() };
    store.put_records(vec![(key, Some(json(&inv)?)), audit_write(store, &event)?])?;
    Ok(())
}

/// A name as people would read it: its slug (case, accents, look-alike forms
/// and punctuation folded), or, for a name with no Latin letters or digits,
/// its lowercase form.
fn fold_name(name: &str) -> String {
    let slug = cahier_doc::schema::slugify(name);
    if name.chars().any(|c| c.is_ascii_alphanumeric()) || slug != "page" { slug } else { name.to_lowercase() }
}

/// Opens a guest session for someone who followed an invite link and chose a name.
pub fn join(
    store: &Store,
    secret: &str,
    name: &str,
    secret_random: [u8; 32],
    csrf_random: [u8; 32],
    now_ms: i64,
) -> Result<Option<(String, Invite)>> {
    let name = name.trim();
    if !cahier_auth::is_valid_name(name) {
        return Err(Error::Invalid("choose a name of 1 to 64 visible characters".into()));
    }
    let Some(inv) = invite_by_secret(store, secret, now_ms)? else { return Ok(None) };
    // A guest may not pass for an account holder: names are compared as their
    // slugs are (case, accents and look-alike forms folded).
    let folded = fold_name(name);
    if accounts(store)?.iter().any(|a| fold_name(&a.name) == folded) {
        return Err(Error::Invalid("this name belongs to an account here; choose another".into()));
    }
    let session_secret = cahier_auth::new_secret(secret_random);
    let expires = inv.expires_ms.map_or(now_ms + SESSION_MS, |e| e.min(now_ms + SESSION_MS));
    let s = Session {
        account: String::new(),
        csrf: cahier_auth::new_secret(csrf_random),
        created_ms: now_ms,
        expires_ms: expires,
        guest: Some(GuestSession { invite: inv.id.clone(), name: name.to_owned() }),
    };
    open_session(store, &session_secret, &s, now_ms)?;
    Ok(Some((session_secret, inv)))
}

/// Adds one event to the audit log.
pub fn record_audit(store: &Store, event: &AuditEvent) -> Result<()> {
    store.put_records(vec![audit_write(store, event)?])?;
    Ok(())
}

//! The sync socket's side of access control: who each connection is, and the
//! engine's one decision point answered from the policy table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cahier_auth::{Act, Principal, allowed};
use cahier_doc::DocId;
use cahier_sync::{Access, ConnId, Policy};

/// Each open connection's principal, set at the upgrade, before any document
/// is touched, with what it takes to close that connection when the rights it
/// was opened with are taken back.
#[derive(Clone, Default)]
pub struct Principals(Arc<Mutex<HashMap<ConnId, Open>>>);

/// One open connection: who it is, what it proved that with, how to close it.
struct Open {
    who: Principal,
    credential: Option<Credential>,
    closer: Closer,
}

/// What a connection proved who it is with at the upgrade, kept so that the
/// server can ask again while the socket stays open.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    /// An API token's secret.
    Token(String),
    /// A session cookie's secret (an account's login or a guest's join).
    Session(String),
}

/// The close frame's reason when a connection's credential stops working.
pub const ACCESS_ENDED: &str = "access ended (token revoked, session over or invite gone): log in or open the link again";

/// The way to a connection's socket task: its outbound queue, and, should
/// that queue be full, the token that ends it at once.
pub struct Closer {
    pub out: tokio::sync::mpsc::Sender<crate::hub_task::Outbound>,
    pub kill: tokio_util::sync::CancellationToken,
}

impl Principals {
    pub fn insert(&self, conn: ConnId, who: Principal, credential: Option<Credential>, closer: Closer) {
        lock(&self.0).insert(conn, Open { who, credential, closer });
    }

    pub fn remove(&self, conn: ConnId) {
        lock(&self.0).remove(&conn);
    }

    fn get(&self, conn: ConnId) -> Principal {
        lock(&self.0).get(&conn).map_or(Principal::Anonymous, |o| o.who.clone())
    }

    /// Closes the sockets of guests who joined through `invite`, with a close
    /// frame giving `reason`. Returns how many there were.
    pub fn close_invite(&self, invite: &str, reason: &str) -> usize {
        self.close_where(|o| matches!(&o.who, Principal::Guest { invite: i, .. } if i == invite), reason)
    }

    /// Closes the sockets opened with the session `secret` (its holder logged
    /// out). Returns how many there were.
    pub fn close_session(&self, secret: &str, reason: &str) -> usize {
        self.close_where(|o| matches!(&o.credential, Some(Credential::Session(s)) if s == secret), reason)
    }

    fn close_where(&self, which: impl Fn(&Open) -> bool, reason: &str) -> usize {
        let map = lock(&self.0);
        let mut n = 0;
        for open in map.values().filter(|o| which(o)) {
            n += 1;
            open.closer.close(reason);
        }
        n
    }

    /// Asks the store again who every open connection is, as the upgrade did:
    /// one whose token was revoked, whose session ended or expired, whose
    /// invite was revoked or whose account is gone is closed; one whose rights
    /// changed (a role taken back, an invite made view-only) keeps its socket
    /// and the engine asks its new rights from the next message on. This
    /// catches what was changed where this server cannot see it: by the
    /// command line on a shared store, or on another node. Reads the store:
    /// call it on a blocking thread. Returns how many were closed.
    pub fn recheck(&self, store: &cahier_store::Store, now_ms: i64) -> Result<usize, cahier_app::Error> {
        let credentials: std::collections::HashSet<Credential> = lock(&self.0).values().filter_map(|o| o.credential.clone()).collect();
        // The store is read without the lock: the engine asks it on every message.
        let mut now = HashMap::with_capacity(credentials.len());
        for c in credentials {
            let who = match &c {
                Credential::Token(secret) => crate::auth_store::token_principal(store, secret)?,
                Credential::Session(secret) => crate::auth_store::session(store, secret, now_ms)?.map(|(p, _)| p),
            };
            now.insert(c, who.unwrap_or(Principal::Anonymous));
        }
        let mut map = lock(&self.0);
        let mut closed = 0;
        for open in map.values_mut() {
            // Connections opened since the reading above are as new as it.
            let Some(who) = open.credential.as_ref().and_then(|c| now.get(c)) else { continue };
            if who.identity().is_none() || who.identity() != open.who.identity() {
                closed += 1;
                open.closer.close(ACCESS_ENDED);
            } else if *who != open.who {
                open.who = who.clone();
            }
        }
        Ok(closed)
    }
}

impl Closer {
    /// Sends a close frame giving `reason`, or, should the socket's queue be
    /// full, ends it at once.
    pub fn close(&self, reason: &str) {
        if self.out.try_send(crate::hub_task::Outbound::Close(reason.to_owned())).is_err() {
            self.kill.cancel();
        }
    }
}

/// The maps behind these locks hold only finished entries (each insert or
/// remove is one call), so a panic elsewhere while one was held leaves them
/// sound: a poisoned lock is taken as it is rather than refusing every author
/// until a restart.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The deleted documents, shared by the engine's policy and the HTTP side
/// that deletes them.
pub type Deleted = Arc<std::sync::RwLock<std::collections::HashSet<DocId>>>;

/// Who owns each Automerge actor, in memory: the engine decides claims
/// without touching the store. A new claim waits in `unsaved` until the
/// storage thread writes it, before the changes that carry it (see
/// `storage.rs`), so no stored change has an actor without its owner.
#[derive(Default)]
pub struct Bindings {
    owners: Mutex<HashMap<String, String>>,
    unsaved: Mutex<Vec<(String, crate::auth_store::ActorBinding)>>,
}

impl Bindings {
    /// Every binding the store has.
    pub fn load(store: &cahier_store::Store) -> Result<Bindings, cahier_app::Error> {
        Ok(Bindings { owners: Mutex::new(crate::auth_store::actor_identities(store)?), unsaved: Mutex::default() })
    }

    /// Checks that `actor` is `identity`'s, claiming it if nobody has it yet.
    fn claim(&self, actor: &str, identity: &str, name: &str) -> Result<(), String> {
        let mut owners = lock(&self.owners);
        match owners.get(actor) {
            Some(owner) if owner == identity => Ok(()),
            Some(_) => Err("their Automerge actor belongs to someone else".into()),
            None => {
                owners.insert(actor.to_owned(), identity.to_owned());
                let b = crate::auth_store::ActorBinding { identity: identity.to_owned(), name: name.to_owned(), at_ms: crate::now_ms() };
                lock(&self.unsaved).push((actor.to_owned(), b));
                Ok(())
            }
        }
    }

    /// The claims not yet written, to write before the next changes.
    pub fn take_unsaved(&self) -> Vec<(String, crate::auth_store::ActorBinding)> {
        std::mem::take(&mut *lock(&self.unsaved))
    }

    /// Claims whose write failed: written with the next commit instead.
    pub fn put_back(&self, mut failed: Vec<(String, crate::auth_store::ActorBinding)>) {
        let mut unsaved = lock(&self.unsaved);
        failed.append(&mut unsaved);
        *unsaved = failed;
    }
}

/// The engine's decisions: pure, from what is in memory (principals, the
/// deleted documents, actor owners); nothing here waits on the store.
pub struct AccessPolicy {
    principals: Principals,
    deleted: Deleted,
    bindings: Arc<Bindings>,
}

impl AccessPolicy {
    pub fn new(principals: Principals, deleted: Deleted, bindings: Arc<Bindings>) -> AccessPolicy {
        AccessPolicy { principals, deleted, bindings }
    }
}

impl Policy for AccessPolicy {
    fn authorize(&self, conn: ConnId, _peer_id: &str, doc: &DocId, access: Access) -> bool {
        // A deleted document is out of everyone's reach (and looks missing).
        if self.deleted.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains(doc) {
            return false;
        }
        let who = self.principals.get(conn);
        match access {
            Access::Read => allowed(&who, &Act::ReadDocument(doc)),
            Access::Write => allowed(&who, &Act::WriteDocument(doc)),
        }
    }

    fn claim_actors(&self, conn: ConnId, actors: &[String]) -> Result<(), String> {
        let who = self.principals.get(conn);
        let (Some(identity), Some(name)) = (who.identity(), who.display_name()) else {
            return Err("only people who are logged in may write".into());
        };
        actors.iter().try_for_each(|a| self.bindings.claim(a, &identity, name))
    }

    fn presence_identity(&self, conn: ConnId) -> Option<cahier_sync::presence::Identity> {
        let who = self.principals.get(conn);
        let kind = match &who {
            cahier_auth::Principal::Anonymous => return None,
            cahier_auth::Principal::Guest { .. } => "guest",
            cahier_auth::Principal::Account { .. } => "account",
        };
        let name = who.display_name()?.to_owned();
        Some(cahier_sync::presence::Identity { who: format!("{kind}:{name}"), name })
    }
}

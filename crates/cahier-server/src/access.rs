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
pub struct Principals(Arc<Mutex<HashMap<ConnId, (Principal, Closer)>>>);

/// The way to a connection's socket task: its outbound queue, and, should
/// that queue be full, the token that ends it at once.
pub struct Closer {
    pub out: tokio::sync::mpsc::Sender<crate::hub_task::Outbound>,
    pub kill: tokio_util::sync::CancellationToken,
}

impl Principals {
    pub fn insert(&self, conn: ConnId, who: Principal, closer: Closer) {
        lock(&self.0).insert(conn, (who, closer));
    }

    pub fn remove(&self, conn: ConnId) {
        lock(&self.0).remove(&conn);
    }

    fn get(&self, conn: ConnId) -> Principal {
        lock(&self.0).get(&conn).map_or(Principal::Anonymous, |(who, _)| who.clone())
    }

    /// Closes the sockets of guests who joined through `invite`, with a close
    /// frame giving `reason`. Returns how many there were.
    pub fn close_invite(&self, invite: &str, reason: &str) -> usize {
        let map = lock(&self.0);
        let mut n = 0;
        for (who, closer) in map.values() {
            if matches!(who, Principal::Guest { invite: i, .. } if i == invite) {
                n += 1;
                if closer.out.try_send(crate::hub_task::Outbound::Close(reason.to_owned())).is_err() {
                    closer.kill.cancel();
                }
            }
        }
        n
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

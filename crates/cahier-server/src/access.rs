//! The sync socket's side of access control: who each connection is, and the
//! engine's one decision point answered from the policy table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cahier_auth::{Act, Principal, allowed};
use cahier_doc::DocId;
use cahier_sync::{Access, ConnId, Policy};

/// Each open connection's principal, set at the upgrade, before any document is touched.
#[derive(Clone, Default)]
pub struct Principals(Arc<Mutex<HashMap<ConnId, Principal>>>);

impl Principals {
    pub fn insert(&self, conn: ConnId, who: Principal) {
        lock(&self.0).insert(conn, who);
    }

    pub fn remove(&self, conn: ConnId) {
        lock(&self.0).remove(&conn);
    }

    fn get(&self, conn: ConnId) -> Principal {
        lock(&self.0).get(&conn).cloned().unwrap_or(Principal::Anonymous)
    }
}

/// The maps behind these locks hold only finished entries (each insert or
/// remove is one call), so a panic elsewhere while one was held leaves them
/// sound: a poisoned lock is taken as it is rather than refusing every author
/// until a restart.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The deleted documents, shared by the engine's policy and the HTTP side
/// that deletes them.
pub type Deleted = Arc<std::sync::RwLock<std::collections::HashSet<DocId>>>;

pub struct AccessPolicy {
    principals: Principals,
    store: cahier_store::Store,
    deleted: Deleted,
    /// Actor (hex) → identity, as recorded in the store.
    actors: Mutex<HashMap<String, String>>,
}

impl AccessPolicy {
    pub fn new(principals: Principals, store: cahier_store::Store, deleted: Deleted) -> AccessPolicy {
        AccessPolicy { principals, store, deleted, actors: Mutex::new(HashMap::new()) }
    }

    /// Checks that `actor` is `identity`'s, claiming it durably if nobody has it yet.
    fn claim(&self, actor: &str, identity: &str, name: &str) -> Result<(), String> {
        const TAKEN: &str = "their Automerge actor belongs to someone else";
        let mut cache = lock(&self.actors);
        if let Some(owner) = cache.get(actor) {
            return if owner == identity { Ok(()) } else { Err(TAKEN.into()) };
        }
        let unsaved = |e: crate::auth_store::AuthError| {
            tracing::error!(cause = %e, "cannot record who an actor is; refusing the change");
            format!("could not save changes (recording their author failed: {e}); reconnect to send them again")
        };
        match crate::auth_store::actor_binding(&self.store, actor).map_err(unsaved)? {
            Some(b) => {
                let ok = b.identity == identity;
                cache.insert(actor.to_owned(), b.identity);
                if ok { Ok(()) } else { Err(TAKEN.into()) }
            }
            None => {
                crate::auth_store::bind_actor(&self.store, actor, identity, name, crate::now_ms()).map_err(unsaved)?;
                cache.insert(actor.to_owned(), identity.to_owned());
                Ok(())
            }
        }
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
        actors.iter().try_for_each(|a| self.claim(a, &identity, name))
    }
}

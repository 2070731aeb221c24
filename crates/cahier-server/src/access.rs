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
        if let Ok(mut m) = self.0.lock() {
            m.insert(conn, who);
        }
    }

    pub fn remove(&self, conn: ConnId) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&conn);
        }
    }

    fn get(&self, conn: ConnId) -> Principal {
        self.0.lock().ok().and_then(|m| m.get(&conn).cloned()).unwrap_or(Principal::Anonymous)
    }
}

pub struct AccessPolicy {
    principals: Principals,
}

impl AccessPolicy {
    pub fn new(principals: Principals) -> AccessPolicy {
        AccessPolicy { principals }
    }
}

impl Policy for AccessPolicy {
    fn authorize(&self, conn: ConnId, _peer_id: &str, doc: &DocId, access: Access) -> bool {
        let who = self.principals.get(conn);
        match access {
            Access::Read => allowed(&who, &Act::ReadDocument(doc)),
            Access::Write => allowed(&who, &Act::WriteDocument(doc)),
        }
    }
}

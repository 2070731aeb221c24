//! The policy table, cell by cell, and the secrets.

use cahier_auth::{Act, Principal, Role, allowed};
use cahier_doc::DocId;

#[test]
fn every_cell_of_the_policy_table() {
    let doc = DocId::from_random([1; 16]);
    let other = DocId::from_random([2; 16]);
    let anon = Principal::Anonymous;
    let guest = |write| Principal::Guest { name: "Noé".into(), doc: doc.to_string(), write, invite: "i1".into() };
    let editor = Principal::Account { name: "e".into(), role: Role::Editor };
    let maint = Principal::Account { name: "m".into(), role: Role::Maintainer };
    let who = [("anonymous", anon), ("viewer", guest(false)), ("participant", guest(true)), ("editor", editor), ("maintainer", maint)];
    let acts: Vec<(&str, Act<'_>)> = vec![
        ("read published", Act::ReadPublished),
        ("read doc", Act::ReadDocument(&doc)),
        ("read other doc", Act::ReadDocument(&other)),
        ("write doc", Act::WriteDocument(&doc)),
        ("write other doc", Act::WriteDocument(&other)),
        ("history", Act::ReadHistory(&doc)),
        ("create", Act::CreateDocument),
        ("invite", Act::CreateInvite(&doc)),
        ("revoke invite", Act::RevokeInvite),
        ("publish", Act::Publish),
        ("unpublish", Act::Unpublish),
        ("delete", Act::Delete),
        ("restore", Act::Restore),
        ("export all", Act::ExportAll),
        ("import", Act::Import),
        ("accounts", Act::ManageAccounts),
        ("audit", Act::ReadAudit),
        ("files", Act::ManageFiles),
    ];
    // Rows: anonymous, viewer, participant, editor, maintainer (as in docs/security.md).
    let expected: [(&str, [u8; 5]); 18] = [
        ("read published", [1, 1, 1, 1, 1]),
        ("read doc", [0, 1, 1, 1, 1]),
        ("read other doc", [0, 0, 0, 1, 1]),
        ("write doc", [0, 0, 1, 1, 1]),
        ("write other doc", [0, 0, 0, 1, 1]),
        ("history", [0, 0, 0, 1, 1]),
        ("create", [0, 0, 0, 1, 1]),
        ("invite", [0, 0, 0, 1, 1]),
        ("revoke invite", [0, 0, 0, 0, 1]),
        ("publish", [0, 0, 0, 0, 1]),
        ("unpublish", [0, 0, 0, 0, 1]),
        ("delete", [0, 0, 0, 0, 1]),
        ("restore", [0, 0, 0, 0, 1]),
        ("export all", [0, 0, 0, 0, 1]),
        ("import", [0, 0, 0, 0, 1]),
        ("accounts", [0, 0, 0, 0, 1]),
        ("audit", [0, 0, 0, 0, 1]),
        ("files", [0, 0, 0, 0, 1]),
    ];
    for ((name, act), (ename, row)) in acts.iter().zip(expected.iter()) {
        assert_eq!(name, ename);
        for ((role, p), want) in who.iter().zip(row.iter()) {
            assert_eq!(allowed(p, act), *want == 1, "{role} / {name}");
        }
    }
}

#[test]
fn passwords_hash_with_argon2id_and_verify() {
    let h = cahier_auth::hash_password("correct horse battery", [7; 16]).expect("hash");
    assert!(h.starts_with("$argon2id$"), "{h}");
    assert!(cahier_auth::verify_password("correct horse battery", &h));
    assert!(!cahier_auth::verify_password("correct horse batterY", &h));
    assert!(!cahier_auth::verify_password("x", "not a hash"));
    let short = cahier_auth::hash_password("court", [7; 16]).expect_err("too short");
    assert_eq!(short.to_string(), "the password must have at least 10 characters");
}

#[test]
fn secrets_have_256_bits_and_are_stored_as_digests() {
    let s = cahier_auth::new_secret([0xab; 32]);
    assert_eq!(s.len(), 64);
    assert!(cahier_auth::is_well_formed_secret(&s));
    assert!(!cahier_auth::is_well_formed_secret("abc"));
    assert!(!cahier_auth::is_well_formed_secret(&s.to_uppercase()));
    let d = cahier_auth::digest(&s);
    assert_ne!(d, s);
    assert_eq!(d, cahier_auth::digest(&s));
    assert!(cahier_auth::same_secret(&s, &s.clone()));
    assert!(!cahier_auth::same_secret(&s, &d));
}

#[test]
fn names_are_checked() {
    assert!(cahier_auth::is_valid_name("Noé"));
    assert!(!cahier_auth::is_valid_name(""));
    assert!(!cahier_auth::is_valid_name("   "));
    assert!(!cahier_auth::is_valid_name("a\nb"));
    assert!(!cahier_auth::is_valid_name(&"x".repeat(65)));
}

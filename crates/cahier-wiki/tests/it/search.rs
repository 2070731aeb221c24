//! Search: accents, case, French stemming, and updates on publish.

use cahier_wiki::search::SearchIndex;

fn slugs(index: &SearchIndex, q: &str) -> Vec<String> {
    index.search(q, 10).expect("search works").into_iter().map(|h| h.slug).collect()
}

#[test]
fn search_ignores_accents_and_case_and_stems_french() {
    let mut index = SearchIndex::new().expect("index");
    index
        .put(&[
            ("ecoles", "Écoles ouvertes", "Les écoles accueillent les parents le samedi."),
            ("jardin", "Le jardin partagé", "Nous jardinons ensemble ; les enfants plantent des tomates."),
            ("webinaire", "Compte rendu du webinaire", "Quatre-vingt-dix participants ont pris des notes."),
        ])
        .expect("indexing");
    assert_eq!(slugs(&index, "ECOLE"), ["ecoles"], "accents and case");
    assert_eq!(slugs(&index, "école"), ["ecoles"], "singular finds plural");
    assert_eq!(slugs(&index, "jardiner"), ["jardin"], "verb forms share a stem");
    assert_eq!(slugs(&index, "participant"), ["webinaire"]);
    assert_eq!(slugs(&index, "partagés"), ["jardin"], "title words count");
    assert!(slugs(&index, "piscine").is_empty());
    // Reader input that is not valid query syntax still searches.
    assert_eq!(slugs(&index, "tomates AND (\"enfants"), ["jardin"]);
    let hit = &index.search("tomates", 1).expect("search")[0];
    assert!(hit.snippet.contains("<b>tomates</b>"), "{}", hit.snippet);
}

#[test]
fn republishing_replaces_and_unpublishing_removes() {
    let mut index = SearchIndex::new().expect("index");
    index.put(&[("p", "Page", "premier texte sur les abeilles")]).expect("put");
    assert_eq!(slugs(&index, "abeilles"), ["p"]);
    index.put(&[("p", "Page", "second texte sur les papillons")]).expect("put");
    assert!(slugs(&index, "abeilles").is_empty(), "the old version is gone");
    assert_eq!(slugs(&index, "papillons"), ["p"]);
    index.remove("p").expect("remove");
    assert!(slugs(&index, "papillons").is_empty());
}

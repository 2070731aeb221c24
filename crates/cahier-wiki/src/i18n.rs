//! The reader's interface in French (first) and English.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "fr" => Some(Lang::Fr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language for a request: `?lang=` first, then the browser's
    /// `Accept-Language` (the first of French or English it names), else French.
    pub fn negotiate(query: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(l) = query.and_then(Lang::parse) {
            return l;
        }
        let Some(accept) = accept_language else { return Lang::Fr };
        let mut best: Option<(f32, Lang)> = None;
        for part in accept.split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.parse::<f32>().ok()))
                .unwrap_or(1.0);
            let lang = if tag == "fr" || tag.starts_with("fr-") {
                Lang::Fr
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::Fr, |(_, l)| l)
    }

    pub fn t(self) -> &'static Strings {
        match self {
            Lang::Fr => &FR,
            Lang::En => &EN,
        }
    }
}

/// Every string of the reader's interface.
pub struct Strings {
    pub skip: &'static str,
    pub nav_label: &'static str,
    pub home: &'static str,
    pub pages: &'static str,
    pub tags: &'static str,
    pub recent: &'static str,
    pub search: &'static str,
    pub search_label: &'static str,
    pub search_button: &'static str,
    pub other_lang: &'static str,
    pub other_lang_name: &'static str,
    pub tagged: &'static str,
    pub backlinks: &'static str,
    pub no_backlinks: &'static str,
    pub credits: &'static str,
    pub license_intro: &'static str,
    pub authors: &'static str,
    pub imported_from: &'static str,
    pub no_authors: &'static str,
    pub attribution: &'static str,
    pub attribution_help: &'static str,
    pub markdown: &'static str,
    pub history: &'static str,
    pub published_on: &'static str,
    pub by: &'static str,
    pub not_found_title: &'static str,
    pub not_found: &'static str,
    pub no_pages: &'static str,
    pub no_results: &'static str,
    pub results_for: &'static str,
    pub published: &'static str,
    pub unpublished: &'static str,
    pub feed: &'static str,
    pub version_of: &'static str,
    pub view_version: &'static str,
    pub diff_previous: &'static str,
    pub diff_title: &'static str,
    pub restore: &'static str,
    pub sessions: &'static str,
    pub changes: &'static str,
    pub unknown_author: &'static str,
    pub live_version: &'static str,
    pub back_to_page: &'static str,
    pub licence_footer: &'static str,
    pub missing_page: &'static str,
    pub compare: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub added: &'static str,
    pub removed: &'static str,
    pub login: &'static str,
    pub logout: &'static str,
    pub account_name: &'static str,
    pub password: &'static str,
    pub login_failed: &'static str,
    pub too_many: &'static str,
    pub forbidden_title: &'static str,
    pub forbidden: &'static str,
    pub publish: &'static str,
    pub unpublish: &'static str,
    pub setup_title: &'static str,
    pub setup_intro: &'static str,
    pub password_again: &'static str,
    pub setup_button: &'static str,
    pub passwords_differ: &'static str,
    pub audit: &'static str,
    pub when: &'static str,
    pub who: &'static str,
    pub what: &'static str,
    pub target: &'static str,
    pub join_title: &'static str,
    pub join_intro: &'static str,
    pub join_edit: &'static str,
    pub join_view: &'static str,
    pub display_name: &'static str,
    pub display_name_help: &'static str,
    pub join_button: &'static str,
    pub delete: &'static str,
}

pub static FR: Strings = Strings {
    skip: "Aller au contenu",
    nav_label: "Navigation principale",
    home: "Accueil",
    pages: "Pages",
    tags: "Étiquettes",
    recent: "Modifications récentes",
    search: "Recherche",
    search_label: "Rechercher dans le wiki",
    search_button: "Rechercher",
    other_lang: "en",
    other_lang_name: "English",
    tagged: "Étiquettes :",
    backlinks: "Pages qui pointent ici",
    no_backlinks: "Aucune page ne pointe ici.",
    credits: "Crédits et licence",
    license_intro: "Ce texte est publié sous la licence",
    authors: "Auteurs et autrices :",
    imported_from: "dont le texte importé de :",
    no_authors: "aucun auteur enregistré",
    attribution: "Pour réutiliser ce texte, citez :",
    attribution_help: "Ligne d’attribution à copier",
    markdown: "Télécharger en Markdown",
    history: "Historique",
    published_on: "Publié le",
    by: "par",
    not_found_title: "Page introuvable",
    not_found: "Cette page n’existe pas ou n’est pas publiée.",
    no_pages: "Aucune page publiée pour l’instant.",
    no_results: "Aucun résultat.",
    results_for: "Résultats pour",
    published: "publiée",
    unpublished: "dépubliée",
    feed: "Flux Atom des publications",
    version_of: "Version du",
    view_version: "voir cette version",
    diff_previous: "différences avec la précédente",
    diff_title: "Différences",
    restore: "Restaurer cette version",
    sessions: "Sessions d’écriture",
    changes: "modification(s)",
    unknown_author: "anonyme",
    live_version: "version en cours",
    back_to_page: "Retour à la page",
    licence_footer: "Contenus sous licence CC BY 4.0, sauf mention contraire.",
    missing_page: "page inexistante",
    compare: "Comparer",
    from: "de",
    to: "à",
    added: "ajouté",
    removed: "supprimé",
    login: "Se connecter",
    logout: "Se déconnecter",
    account_name: "Nom du compte",
    password: "Mot de passe",
    login_failed: "Nom ou mot de passe incorrect.",
    too_many: "Trop de tentatives. Réessayez dans quelques minutes.",
    forbidden_title: "Accès refusé",
    forbidden: "Vous n’avez pas le droit de faire cela. Connectez-vous avec un compte qui l’a.",
    publish: "Publier",
    unpublish: "Dépublier",
    setup_title: "Créer le premier compte de maintenance",
    setup_intro: "Ce lien ne sert qu’une fois. Le compte créé pourra tout gérer : publier, exporter, créer d’autres comptes.",
    password_again: "Mot de passe, encore",
    setup_button: "Créer le compte",
    passwords_differ: "Les deux mots de passe diffèrent.",
    audit: "Journal d’audit",
    when: "Quand",
    who: "Qui",
    what: "Quoi",
    target: "Sur quoi",
    join_title: "Rejoindre le compte rendu",
    join_intro: "Vous êtes invité·e à",
    join_edit: "pour écrire",
    join_view: "pour lire",
    display_name: "Votre nom",
    display_name_help: "Les autres participant·es le verront, et les crédits du compte rendu l’afficheront.",
    join_button: "Rejoindre",
    delete: "Supprimer",
};

pub static EN: Strings = Strings {
    skip: "Skip to content",
    nav_label: "Main navigation",
    home: "Home",
    pages: "Pages",
    tags: "Tags",
    recent: "Recent changes",
    search: "Search",
    search_label: "Search the wiki",
    search_button: "Search",
    other_lang: "fr",
    other_lang_name: "Français",
    tagged: "Tags:",
    backlinks: "Pages that link here",
    no_backlinks: "No page links here.",
    credits: "Credits and licence",
    license_intro: "This text is published under the licence",
    authors: "Authors:",
    imported_from: "including imported text by:",
    no_authors: "no recorded author",
    attribution: "To reuse this text, credit:",
    attribution_help: "Attribution line to copy",
    markdown: "Download as Markdown",
    history: "History",
    published_on: "Published on",
    by: "by",
    not_found_title: "Page not found",
    not_found: "This page does not exist or is not published.",
    no_pages: "No published page yet.",
    no_results: "No results.",
    results_for: "Results for",
    published: "published",
    unpublished: "unpublished",
    feed: "Atom feed of publications",
    version_of: "Version of",
    view_version: "view this version",
    diff_previous: "changes from the previous one",
    diff_title: "Changes",
    restore: "Restore this version",
    sessions: "Editing sessions",
    changes: "change(s)",
    unknown_author: "anonymous",
    live_version: "current version",
    back_to_page: "Back to the page",
    licence_footer: "Content under CC BY 4.0 unless stated otherwise.",
    missing_page: "missing page",
    compare: "Compare",
    from: "from",
    to: "to",
    added: "added",
    removed: "removed",
    login: "Log in",
    logout: "Log out",
    account_name: "Account name",
    password: "Password",
    login_failed: "Wrong name or password.",
    too_many: "Too many attempts. Try again in a few minutes.",
    forbidden_title: "Access denied",
    forbidden: "You may not do this. Log in with an account that may.",
    publish: "Publish",
    unpublish: "Unpublish",
    setup_title: "Create the first maintainer account",
    setup_intro: "This link works once. The account it creates can manage everything: publish, export, create other accounts.",
    password_again: "Password, again",
    setup_button: "Create the account",
    passwords_differ: "The two passwords differ.",
    audit: "Audit log",
    when: "When",
    who: "Who",
    what: "What",
    target: "On what",
    join_title: "Join the minutes",
    join_intro: "You are invited to",
    join_edit: "to write",
    join_view: "to read",
    display_name: "Your name",
    display_name_help: "Other participants will see it, and the minutes' credits will show it.",
    join_button: "Join",
    delete: "Delete",
};

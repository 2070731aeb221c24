// The editor's strings, French first, English second. The language follows the
// browser unless the person chose one (kept in localStorage).

export type Lang = "fr" | "en"

const fr = {
  skip: "Aller au contenu",
  home: "Accueil",
  appName: "Cahier",
  switchLang: "English",
  switchLangLabel: "Switch to English",
  minutes: "Comptes rendus",
  pages: "Pages du wiki",
  newMinutes: "Nouveau compte rendu",
  newPage: "Nouvelle page",
  searchTitle: "Rechercher par titre",
  noDocuments: "Aucun document.",
  untitledMinutes: "Compte rendu sans titre",
  untitledPage: "Page sans titre",
  title: "Titre",
  slug: "Adresse (slug)",
  tags: "Étiquettes (séparées par des virgules)",
  startsAt: "Date et heure",
  place: "Lieu ou lien",
  facilitator: "Animation",
  participants: "Participants",
  participant: "Participant",
  addParticipant: "Ajouter un participant",
  agenda: "Ordre du jour",
  agendaItem: "Point",
  addAgenda: "Ajouter un point",
  notes: "Notes (Markdown)",
  body: "Texte (Markdown)",
  decisions: "Décisions",
  decision: "Décision",
  addDecision: "Ajouter une décision",
  actions: "Actions",
  actionText: "Action",
  actionOwner: "Responsable",
  actionDue: "Échéance",
  actionDone: "Fait",
  addAction: "Ajouter une action",
  remove: "Supprimer",
  preview: "Aperçu",
  publishedPage: "Voir la page publique",
  publicPage: "page publique",
  draft: "Brouillon",
  publishedBadge: (kind: string): string => (kind === "minutes" ? "Publié" : "Publiée"),
  reviewDraft: "Relire et publier dans le wiki",
  reviewDraftMinutes: "Voir dans le wiki (pour en faire une page)",
  wiki: "Wiki",
  history: "Historique",
  present: "Présents",
  you: "vous",
  // Offline: how many changes the server does not have yet, and whether this
  // device has stored them (they survive a reload) or is still writing them.
  offline: (n: number, stored: boolean) =>
    n === 0 ? "Hors ligne" : stored ? `Hors ligne — ${n} modification(s) sur cet appareil seulement` : `Hors ligne — enregistrement de ${n} modification(s) sur cet appareil…`,
  storedHere: "Enregistré sur cet appareil, pas encore sur le serveur.",
  storingHere: "Enregistrement sur cet appareil…",
  savedTitle: "Enregistré sur le serveur.",
  saving: "Enregistrement…",
  saved: "Enregistré",
  connecting: "Connexion…",
  notFound: "Document introuvable ou accès refusé.",
  readOnly: "Lecture seule",
  logout: "Se déconnecter",
  logoutUnsaved: "Des modifications ne sont pas encore enregistrées sur le serveur : elles restent sur cet appareil seulement. Se déconnecter quand même ?",
  meeting: "Réunion",
  meetingSummary: (when: string, place: string, people: number, items: number) =>
    ["Réunion", when, place, people ? `${people} participant${people > 1 ? "s" : ""}` : "", items ? `${items} point${items > 1 ? "s" : ""}` : ""].filter(Boolean).join(" · "),
  menu: "Menu",
  invite: "Inviter",
  inviteWrite: "Créer un lien pour écrire",
  inviteView: "Créer un lien pour lire",
  inviteLink: "Lien d’invitation à partager",
  inviteFailed: "Le lien n’a pas pu être créé.",
}

const en: typeof fr = {
  skip: "Skip to content",
  home: "Home",
  appName: "Cahier",
  switchLang: "Français",
  switchLangLabel: "Passer en français",
  minutes: "Minutes",
  pages: "Wiki pages",
  newMinutes: "New minutes",
  newPage: "New page",
  searchTitle: "Search by title",
  noDocuments: "No documents.",
  untitledMinutes: "Untitled minutes",
  untitledPage: "Untitled page",
  title: "Title",
  slug: "Address (slug)",
  tags: "Tags (comma-separated)",
  startsAt: "Date and time",
  place: "Place or link",
  facilitator: "Facilitator",
  participants: "Participants",
  participant: "Participant",
  addParticipant: "Add a participant",
  agenda: "Agenda",
  agendaItem: "Item",
  addAgenda: "Add an item",
  notes: "Notes (Markdown)",
  body: "Text (Markdown)",
  decisions: "Decisions",
  decision: "Decision",
  addDecision: "Add a decision",
  actions: "Actions",
  actionText: "Action",
  actionOwner: "Owner",
  actionDue: "Due",
  actionDone: "Done",
  addAction: "Add an action",
  remove: "Remove",
  preview: "Preview",
  publishedPage: "See the public page",
  publicPage: "public page",
  draft: "Draft",
  publishedBadge: () => "Published",
  reviewDraft: "Review and publish in the wiki",
  reviewDraftMinutes: "See in the wiki (to make it a page)",
  wiki: "Wiki",
  history: "History",
  present: "Here now",
  you: "you",
  offline: (n: number, stored: boolean) =>
    n === 0 ? "Offline" : stored ? `Offline — ${n} change(s) on this device only` : `Offline — storing ${n} change(s) on this device…`,
  storedHere: "Stored on this device; not on the server yet.",
  storingHere: "Storing on this device…",
  savedTitle: "Saved on the server.",
  saving: "Saving…",
  saved: "Saved",
  connecting: "Connecting…",
  notFound: "Document not found or access denied.",
  readOnly: "Read only",
  logout: "Log out",
  logoutUnsaved: "Some changes are not saved on the server yet: they stay on this device only. Log out anyway?",
  meeting: "Meeting",
  meetingSummary: (when: string, place: string, people: number, items: number) =>
    ["Meeting", when, place, people ? `${people} participant${people > 1 ? "s" : ""}` : "", items ? `${items} item${items > 1 ? "s" : ""}` : ""].filter(Boolean).join(" · "),
  menu: "Menu",
  invite: "Invite",
  inviteWrite: "Create a link to write",
  inviteView: "Create a link to read",
  inviteLink: "Invite link to share",
  inviteFailed: "The link could not be created.",
}

export type Strings = typeof fr

function initial(): Lang {
  const chosen = localStorage.getItem("cahier.lang")
  if (chosen === "fr" || chosen === "en") return chosen
  for (const l of navigator.languages ?? [navigator.language]) {
    const code = l.toLowerCase()
    if (code.startsWith("fr")) return "fr"
    if (code.startsWith("en")) return "en"
  }
  return "fr"
}

export let lang: Lang = initial()
export let t: Strings = lang === "fr" ? fr : en

export function setLang(l: Lang) {
  lang = l
  t = l === "fr" ? fr : en
  localStorage.setItem("cahier.lang", l)
  document.documentElement.lang = l
}

document.documentElement.lang = lang

//! The published wiki as readers see it: one entry per published page, each
//! holding its published version (never the live draft), rendered.

use std::collections::{BTreeMap, HashMap};

use cahier_doc::DocId;

use crate::render::{Pages, Rendered, render_as};

/// A page's published version and what readers see of it.
#[derive(Debug, Clone)]
pub struct Published {
    pub id: DocId,
    pub slug: String,
    pub title: String,
    pub tags: Vec<String>,
    /// A page or minutes (which keep their line breaks as typed).
    pub kind: cahier_doc::Kind,
    /// Markdown at the published version.
    pub body: String,
    pub license: String,
    /// The document's heads when it was published, as hex.
    pub heads: Vec<String>,
    pub published_ms: i64,
    pub published_by: String,
    /// Whose text survives in the published version, most text first.
    pub contributors: Vec<String>,
    /// Rendered body; recomputed when a page it links to appears or goes.
    pub rendered: Rendered,
}

impl Published {
    /// A stable tag of what readers see, for `ETag`s.
    pub fn version_tag(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.heads.join(",").bytes().chain(self.rendered.html.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

/// Everything published, by slug.
#[derive(Debug, Default)]
pub struct Catalog {
    pages: BTreeMap<String, Published>,
    slugs: HashMap<DocId, String>,
    /// Bumped on every change, so caches know when to forget.
    generation: u64,
    /// The stored pictures' sizes, by `HASH.EXT`.
    images: HashMap<String, (u32, u32)>,
}

/// What a page's rendering asks the catalog.
struct Known<'a, F: Fn(&str) -> bool> {
    exists: F,
    images: &'a HashMap<String, (u32, u32)>,
}

impl<F: Fn(&str) -> bool> Pages for Known<'_, F> {
    fn exists(&self, slug: &str) -> bool {
        (self.exists)(slug)
    }

    fn image_size(&self, name: &str) -> Option<(u32, u32)> {
        self.images.get(name).copied()
    }
}

impl Catalog {
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A stored picture's size (`name` is `HASH.EXT`); the pages that show it
    /// are rendered again.
    pub fn set_image_size(&mut self, name: &str, width: u32, height: u32) {
        if self.images.insert(name.to_owned(), (width, height)) == Some((width, height)) {
            return;
        }
        self.render_pages_showing(name);
    }

    /// A stored picture deleted (`name` is `HASH.EXT`): the pages that showed
    /// it are rendered again, without its smaller copies.
    pub fn forget_image(&mut self, name: &str) {
        if self.images.remove(name).is_some() {
            self.render_pages_showing(name);
        }
    }

    fn render_pages_showing(&mut self, name: &str) {
        let showing: Vec<String> = self.pages.values().filter(|p| p.body.contains(name)).map(|p| p.slug.clone()).collect();
        for s in &showing {
            let (body, kind) = (self.pages[s].body.clone(), self.pages[s].kind);
            let rendered = render_as(&body, kind, &self.known());
            if let Some(p) = self.pages.get_mut(s) {
                p.rendered = rendered;
            }
        }
        if !showing.is_empty() {
            self.generation += 1;
        }
    }

    /// Whether a published page shows or links to the stored file `HASH`
    /// (or one of its smaller copies).
    pub fn shows_file(&self, hash: &str) -> bool {
        let needle = format!("{}{hash}.", crate::render::FILES_PREFIX);
        self.pages.values().any(|p| p.body.contains(&needle))
    }

    /// The published pages that show or link to the stored file `HASH`:
    /// (slug, title).
    pub fn pages_showing_file(&self, hash: &str) -> Vec<(String, String)> {
        let needle = format!("{}{hash}.", crate::render::FILES_PREFIX);
        self.pages.values().filter(|p| p.body.contains(&needle)).map(|p| (p.slug.clone(), p.title.clone())).collect()
    }

    pub fn get(&self, slug: &str) -> Option<&Published> {
        self.pages.get(slug)
    }

    pub fn by_id(&self, id: &DocId) -> Option<&Published> {
        self.slugs.get(id).and_then(|s| self.pages.get(s))
    }

    /// Every published slug, to render outside the catalog's lock.
    pub fn slugs(&self) -> std::collections::HashSet<String> {
        self.pages.keys().cloned().collect()
    }

    pub fn exists(&self, slug: &str) -> bool {
        self.pages.contains_key(slug)
    }

    pub fn len(&self) -> usize {
        self.pages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// Every published page, by title (case- and accent-insensitive).
    pub fn by_title(&self) -> Vec<&Published> {
        let mut v: Vec<&Published> = self.pages.values().collect();
        v.sort_by_cached_key(|p| (fold(&p.title), p.slug.clone()));
        v
    }

    /// Published pages whose body has a wiki link to `slug`.
    pub fn backlinks(&self, slug: &str) -> Vec<&Published> {
        let mut v: Vec<&Published> = self.pages.values().filter(|p| p.slug != slug && p.rendered.links.iter().any(|l| l == slug)).collect();
        v.sort_by_cached_key(|p| fold(&p.title));
        v
    }

    /// Each tag with its pages, tags in alphabetical order.
    pub fn tags(&self) -> BTreeMap<String, Vec<&Published>> {
        let mut m: BTreeMap<String, Vec<&Published>> = BTreeMap::new();
        for p in self.by_title() {
            for t in &p.tags {
                m.entry(t.clone()).or_default().push(p);
            }
        }
        m
    }

    /// Publishes (or republishes) a page. Pages whose links to it change from
    /// missing to present are rendered again.
    pub fn upsert(&mut self, mut page: Published) {
        if let Some(old_slug) = self.slugs.get(&page.id).cloned()
            && old_slug != page.slug
        {
            self.remove(&page.id);
        }
        let slug = page.slug.clone();
        let newly = !self.pages.contains_key(&slug);
        page.rendered =
            render_as(&page.body, page.kind, &Known { exists: |s: &str| s == slug || self.pages.contains_key(s), images: &self.images });
        self.slugs.insert(page.id.clone(), slug.clone());
        self.pages.insert(slug.clone(), page);
        if newly {
            self.rerender_linking_to(&slug);
        }
        self.generation += 1;
    }

    /// Publishes many pages at once (at startup), rendering each once.
    pub fn extend(&mut self, pages: Vec<Published>) {
        for p in pages {
            if let Some(old) = self.slugs.insert(p.id.clone(), p.slug.clone())
                && old != p.slug
            {
                self.pages.remove(&old);
            }
            self.pages.insert(p.slug.clone(), p);
        }
        let rendered: Vec<(String, Rendered)> =
            self.pages.values().map(|p| (p.slug.clone(), render_as(&p.body, p.kind, &self.known()))).collect();
        for (slug, r) in rendered {
            if let Some(p) = self.pages.get_mut(&slug) {
                p.rendered = r;
            }
        }
        self.generation += 1;
    }

    /// Unpublishes a page; links to it show as missing again.
    pub fn remove(&mut self, id: &DocId) -> Option<Published> {
        let slug = self.slugs.remove(id)?;
        let page = self.pages.remove(&slug)?;
        self.rerender_linking_to(&slug);
        self.generation += 1;
        Some(page)
    }

    fn known(&self) -> Known<'_, impl Fn(&str) -> bool + '_> {
        Known { exists: |s: &str| self.pages.contains_key(s), images: &self.images }
    }

    fn rerender_linking_to(&mut self, slug: &str) {
        let linking: Vec<String> =
            self.pages.values().filter(|p| p.rendered.links.iter().any(|l| l == slug)).map(|p| p.slug.clone()).collect();
        for s in linking {
            let (body, kind) = (self.pages[&s].body.clone(), self.pages[&s].kind);
            let rendered = render_as(&body, kind, &self.known());
            if let Some(p) = self.pages.get_mut(&s) {
                p.rendered = rendered;
            }
        }
    }
}

/// Lowercase without accents, for sorting.
pub fn fold(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.nfd().filter(|c| !unicode_normalization::char::is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

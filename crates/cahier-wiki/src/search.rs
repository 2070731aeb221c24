//! Full-text search over published pages (tantivy, in memory): titles and text,
//! case- and accent-insensitive, with French stemming.

use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

const TOKENIZER: &str = "cahier_fr";

#[derive(Debug, thiserror::Error)]
#[error("search index: {0}")]
pub struct SearchError(String);

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> SearchError {
        SearchError(e.to_string())
    }
}

/// One result: the page and a passage with the matched words in `<b>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub slug: String,
    pub title: String,
    /// HTML, escaped, with `<b>` around matches.
    pub snippet: String,
}

pub struct SearchIndex {
    index: Index,
    writer: IndexWriter,
    reader: IndexReader,
    slug: Field,
    title: Field,
    body: Field,
}

impl SearchIndex {
    pub fn new() -> Result<SearchIndex, SearchError> {
        let mut schema = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default().set_tokenizer(TOKENIZER).set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let slug = schema.add_text_field("slug", STRING | STORED);
        let title = schema.add_text_field("title", text.clone().set_stored());
        let body = schema.add_text_field("body", text.set_stored());
        let index = Index::create_in_ram(schema.build());
        // Stemming before folding: the Snowball stemmer knows French accents.
        let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(64))
            .filter(LowerCaser)
            .filter(Stemmer::new(Language::French))
            .filter(AsciiFoldingFilter)
            .build();
        index.tokenizers().register(TOKENIZER, analyzer);
        let writer = index.writer_with_num_threads(1, 15_000_000)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(SearchIndex { index, writer, reader, slug, title, body })
    }

    /// Adds or replaces pages, then makes them searchable.
    pub fn put(&mut self, pages: &[(&str, &str, &str)]) -> Result<(), SearchError> {
        for (slug, title, text) in pages {
            self.writer.delete_term(Term::from_field_text(self.slug, slug));
            let mut d = TantivyDocument::default();
            d.add_text(self.slug, slug);
            d.add_text(self.title, title);
            d.add_text(self.body, text);
            self.writer.add_document(d)?;
        }
        self.commit()
    }

    pub fn remove(&mut self, slug: &str) -> Result<(), SearchError> {
        self.writer.delete_term(Term::from_field_text(self.slug, slug));
        self.commit()
    }

    fn commit(&mut self) -> Result<(), SearchError> {
        self.writer.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// The best `limit` pages for a query typed by a reader. Query syntax errors
    /// never fail: the query is then taken as plain words.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>, SearchError> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let mut parser = QueryParser::for_index(&self.index, vec![self.title, self.body]);
        parser.set_field_boost(self.title, 3.0);
        let (q, _errors) = parser.parse_query_lenient(query);
        let top = searcher.search(&q, &TopDocs::with_limit(limit.clamp(1, 100)).order_by_score())?;
        let mut snippets = tantivy::snippet::SnippetGenerator::create(&searcher, &*q, self.body)?;
        snippets.set_max_num_chars(200);
        let mut hits = Vec::with_capacity(top.len());
        for (_score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr)?;
            let get = |f: Field| d.get_first(f).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let snippet = snippets.snippet_from_doc(&d);
            hits.push(Hit { slug: get(self.slug), title: get(self.title), snippet: snippet.to_html() });
        }
        Ok(hits)
    }
}

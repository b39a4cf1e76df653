/* kb.h - knowledge-base search: an in-memory inverted index of articles,
 * BM25-ranked, per client.
 *
 * One kb_index holds the articles of many clients. Every search names one
 * client and can only ever return that client's articles: each client has
 * its own document table, posting lists and statistics (document count,
 * average length, document frequencies), so neither the set of results nor
 * the scores depend on other clients' articles. What goes in is the
 * caller's choice (caredesk indexes published articles only); the index
 * knows documents by id and offers put (insert or replace) and remove.
 * Results depend only on the set of documents indexed, not on the order in
 * which they were put, so several servers fed the same writes agree.
 *
 * Text (docs/kb.md has the details):
 * - tokens are runs of letters and digits (ASCII, and any non-ASCII
 *   character but common punctuation and symbols), lowercased, Latin-1
 *   accents removed, cut to KB_TOKEN_MAX bytes; invalid UTF-8 separates.
 * - each token is stemmed with the Snowball stemmer of the index's language
 *   (libstemmer; "english" is Porter2). No stop words: BM25 gives common
 *   words a low weight and phrases need them.
 *
 * Queries: whitespace-separated terms, all of which must match (AND):
 *     refund card          both terms, any form (refunds, refunded, cards)
 *     "reset your password" the words next to each other, in that order,
 *                          within the title or within the body
 *     pass*                any indexed word starting with "pass" (as typed
 *                          or stemmed); up to KB_PREFIX_MAX words per client
 * Anything else is text: no operators, punctuation separates words, a bare
 * word that splits into several (wi-fi) is a phrase. At most KB_QUERY_TERMS
 * terms are used (later ones are ignored); a query without terms matches
 * nothing. Any bytes are accepted.
 *
 * Ranking: BM25 with k1 = 1.2, b = 0.75, title words counting
 * KB_TITLE_WEIGHT times, as SQLite FTS5's bm25(t, KB_TITLE_WEIGHT, 1.0):
 *     score(d) = sum over query terms and phrases q of
 *                idf(q) * f(q,d) * (k1 + 1) / (f(q,d) + k1 * (1 - b + b * |d| / avgdl))
 *     f(q,d)   = KB_TITLE_WEIGHT * occurrences in the title + occurrences in the body
 *     idf(q)   = max(1e-6, ln((N - n(q) + 0.5) / (n(q) + 0.5)))
 * with |d| the tokens of title and body, avgdl their mean and N the
 * client's documents, n(q) those containing q. Ties: lower doc id first.
 *
 * Threads: any number of concurrent kb_search, kb_snippet, kb_contains,
 * kb_get_stats, kb_put and kb_remove calls on one index are safe (not
 * kb_free); an internal rwlock lets searches run in parallel and makes each
 * write exclusive, writers first. Search keeps its
 * working memory in a pool inside the index, so a search allocates nothing
 * once the pool has grown to its needs. */
#ifndef KB_H
#define KB_H

#include <stddef.h>
#include <stdint.h>

#define KB_INTERNAL 0x1u /* audience: agents only */
#define KB_PUBLIC 0x2u   /* audience: customers too */

#define KB_TITLE_WEIGHT 3.0 /* weight of a title occurrence, body = 1 */
#define KB_TOKEN_MAX 64     /* bytes of a token or tag; longer tokens are cut */
#define KB_QUERY_TERMS 32   /* terms used from a query, phrase words included */
#define KB_PREFIX_MAX 1024  /* words a prefix expands to, per client */
#define KB_TAGS_MAX 64      /* tags per document */
#define KB_WINDOW_MAX 10000 /* offset + limit of a search */
#define KB_SNIPPET_WORDS 30 /* default snippet window */

typedef struct kb_index kb_index;

/* Search filters; every field is optional (zero = no filter). */
typedef struct kb_filter {
    unsigned audience;       /* mask of KB_INTERNAL|KB_PUBLIC; 0 = any */
    const char *const *tags; /* documents must carry every one of these */
    size_t ntags;
} kb_filter;

typedef struct kb_hit {
    int64_t doc_id;
    double score; /* BM25, > 0, higher is better */
} kb_hit;

typedef struct kb_stats {
    size_t clients;   /* clients with at least one slot */
    size_t docs;      /* documents indexed */
    size_t terms;     /* distinct words and tags ever seen (all clients) */
    size_t postings;  /* (document, word) pairs, removed ones not yet reclaimed included */
    size_t mem_bytes; /* memory held by the index, pools included */
} kb_stats;

/* A new empty index stemming with the Snowball algorithm `language`
 * ("english"; NULL = "english"). NULL if the language is unknown or memory
 * is short. */
kb_index *kb_new(const char *language);
void kb_free(kb_index *ix);

/* Indexes document doc_id (> 0) of client client_id (> 0), replacing what
 * was indexed under doc_id before (for whichever client). title and body
 * may be NULL (empty); the body is Markdown, indexed as text. Tags are
 * matched case-insensitively (ASCII), 1..KB_TOKEN_MAX bytes each, at most
 * KB_TAGS_MAX; audience is KB_INTERNAL or KB_PUBLIC.
 * Returns CD_OK, CD_EINVAL, or CD_ENOMEM (searches then see the index as
 * it was before the call). */
int kb_put(kb_index *ix, int64_t doc_id, int64_t client_id, const char *title, const char *body,
           const char *const *tags, size_t ntags, unsigned audience);

/* Removes doc_id. CD_OK, or CD_ENOTFOUND if it was not indexed. */
int kb_remove(kb_index *ix, int64_t doc_id);

/* 1 if doc_id is indexed (and then *client_id, if not NULL, is its client). */
int kb_contains(kb_index *ix, int64_t doc_id, int64_t *client_id);

/* Searches client_id's documents. Ranks every match, skips `offset` of
 * them and writes up to `limit` to hits (offset + limit <= KB_WINDOW_MAX),
 * best first; *nhits = number written, *total (may be NULL) = number of
 * matches. f may be NULL. An unknown client or a query without terms gives
 * no hits. Returns CD_OK, CD_EINVAL or CD_ENOMEM. */
int kb_search(kb_index *ix, int64_t client_id, const char *query, const kb_filter *f, size_t offset,
              size_t limit, kb_hit *hits, size_t *nhits, size_t *total);

/* Writes into out (cap bytes, always NUL-terminated if cap > 0) the best
 * window of about max_words words (0 = KB_SNIPPET_WORDS; large values give
 * the whole text) of text for query: the one with the most distinct query
 * terms, then the most matches, then the earliest. Matched words are
 * wrapped in <mark>...</mark>; everything else is HTML-escaped (& < > " '),
 * whitespace runs become one space, Markdown marks * ` # are dropped,
 * invalid UTF-8 becomes U+FFFD; "…" marks text left out at either end (and
 * at the end if out is too small, cut between words). Phrase and prefix
 * terms highlight each matching word. Returns CD_OK, CD_EINVAL or
 * CD_ENOMEM. */
int kb_snippet(kb_index *ix, const char *query, const char *text, size_t max_words, char *out,
               size_t cap);

void kb_get_stats(kb_index *ix, kb_stats *st);

#endif

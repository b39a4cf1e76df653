/* api_knowledge.c - the knowledge base over HTTP: articles (authors keep
 * them, every change a version), search with highlighted snippets, and
 * suggestions for an interaction with the agents' feedback. Searches run
 * on this server's index (server/knowledge.c); the store decides which
 * client the caller may search. */
#include "server/routes.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "server/knowledge.h"
#include "server/server_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define SNIPPET_BYTES 1024
#define SUGGEST_TERMS 8
#define SUGGEST_MAX 5

int api_article_list(req *r)
{
    return req_reply(r, 200, store_article_list(r->tx, r->query, &r->out));
}

int api_article_create(req *r)
{
    return req_reply(r, 201, store_article_create(r->tx, r->in, &r->out));
}

int api_article_get(req *r)
{
    return req_reply(r, 200, store_article_get(r->tx, r->ids[0], &r->out));
}

int api_article_update(req *r)
{
    return req_reply(r, 200, store_article_update(r->tx, r->ids[0], r->in, &r->out));
}

int api_article_versions(req *r)
{
    return req_reply(r, 200, store_article_versions(r->tx, r->ids[0], &r->out));
}

static knowledge *kn(req *r)
{
    return r->srv->knowledge;
}

/* One hit as the caller sees it: the article (if still visible) with a
 * highlighted snippet of its body. NULL when the article is gone. */
static json_t *hit_view(req *r, int64_t id, double score, const char *query)
{
    json_t *a = NULL;
    char snip[SNIPPET_BYTES];
    if (store_article_get(r->tx, id, &a))
        return NULL;
    const char *body = json_string_value(json_object_get(a, "body"));
    if (kb_snippet(knowledge_index(kn(r)), query, body ? body : "", 0, snip, sizeof snip))
        snip[0] = '\0';
    json_t *v = json_pack("{s:I, s:O, s:O, s:O, s:O, s:f, s:s}", "article_id", (json_int_t)id,
                          "title", json_object_get(a, "title"), "tags", json_object_get(a, "tags"),
                          "audience", json_object_get(a, "audience"), "version",
                          json_object_get(a, "version"), "score", round(score * 1000) / 1000,
                          "snippet", snip);
    json_decref(a);
    return v;
}

int api_kb_search(req *r)
{
    int64_t client = json_integer_value(json_object_get(r->query, "client_id"));
    const char *q = json_string_value(json_object_get(r->query, "q"));
    const char *tag = json_string_value(json_object_get(r->query, "tag"));
    const char *aud = json_string_value(json_object_get(r->query, "audience"));
    int64_t limit = json_integer_value(json_object_get(r->query, "limit"));
    int64_t offset = json_integer_value(json_object_get(r->query, "offset"));
    json_t *c = NULL;
    kb_hit hits[50];
    size_t n = 0, total = 0;
    if (!kn(r))
        return req_reply(r, 200, req_fail(r, CD_ESTATE, "", "search is not available"));
    int rc = store_client_get(r->tx, client, &c); /* may the caller see this client? */
    json_decref(c);
    if (rc)
        return req_reply(r, 200, rc);
    int blank = 1;
    for (const char *p = q; p && *p && blank; p++)
        blank = isspace((unsigned char)*p);
    if (blank)
        return req_reply(r, 200, req_fail(r, CD_EINVAL, "q", "q needs at least one word"));
    if (limit <= 0)
        limit = 10;
    kb_filter f = {0};
    const char *tags[1] = {tag};
    if (tag) {
        f.tags = tags;
        f.ntags = 1;
    }
    if (aud)
        f.audience = strcmp(aud, "public") == 0 ? KB_PUBLIC : KB_INTERNAL;
    if (offset + limit > KB_WINDOW_MAX)
        return req_reply(r, 200, req_fail(r, CD_EINVAL, "offset", "offset is too large"));
    rc = kb_search(knowledge_index(kn(r)), client, q ? q : "", &f, (size_t)offset, (size_t)limit,
                   hits, &n, &total);
    if (rc)
        return req_reply(r, 200, rc);
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *v = hit_view(r, hits[i].doc_id, hits[i].score, q);
        if (v)
            json_array_append_new(items, v);
    }
    r->out = json_pack("{s:o, s:I, s:s}", "items", items, "total", (json_int_t)total, "query", q);
    return req_reply(r, 200, 0);
}

/* Words of text worth searching for: letters and digits, 3+ bytes, not a
 * common word, each once, in order. */
static size_t keywords(const char *text, char words[][48], size_t have, size_t max)
{
    static const char *const common[] = {
        "the",  "and",  "for",  "you",  "your", "with", "this", "that", "have", "has",  "was",
        "are",  "but",  "not",  "can",  "from", "they", "our",  "hi",   "hello", "thanks",
        "thank", "please", "could", "would", "there", "what", "when", "will", "just", "been",
        "about", "into", "any",  "all",  "one",  "out",  "since", "does", "did", "how",  "why",
        "get",  "got",  "again", "still", "know", "need", "want", "also", "very", "here", NULL};
    size_t n = have;
    while (text && *text && n < max) {
        while (*text && !isalnum((unsigned char)*text))
            text++;
        const char *s = text;
        while (*text && isalnum((unsigned char)*text))
            text++;
        size_t len = (size_t)(text - s);
        if (len < 3 || len >= 48)
            continue;
        char w[48];
        for (size_t i = 0; i < len; i++)
            w[i] = (char)tolower((unsigned char)s[i]);
        w[len] = 0;
        int skip = 0;
        for (const char *const *c = common; *c && !skip; c++)
            skip = strcmp(*c, w) == 0;
        for (size_t i = 0; i < n && !skip; i++)
            skip = strcmp(words[i], w) == 0;
        if (!skip)
            memcpy(words[n++], w, len + 1);
    }
    return n;
}

typedef struct scored {
    int64_t id;
    double score;
} scored;

static int by_score(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : (x->id > y->id) - (x->id < y->id);
}

/* Suggestions: BM25 adds up over terms, so the sum of one search per
 * keyword ranks articles by how well they match any of the words; agents'
 * feedback nudges it (at most +-20%). */
int api_suggestions(req *r)
{
    json_t *it = NULL, *msgs = NULL, *m, *fb = NULL, *row;
    char words[SUGGEST_TERMS][48], query[SUGGEST_TERMS * 49] = "";
    scored acc[SUGGEST_TERMS * 20];
    size_t nw = 0, nacc = 0, i;
    if (!kn(r))
        return req_reply(r, 200, req_fail(r, CD_ESTATE, "", "suggestions are not available"));
    int rc = store_interaction_get(r->tx, r->ids[0], &it);
    if (!rc)
        rc = store_message_list(r->tx, r->ids[0], NULL, &msgs);
    if (rc) {
        json_decref(it);
        return req_reply(r, 200, rc);
    }
    int64_t client = json_integer_value(json_object_get(it, "client_id"));
    nw = keywords(json_string_value(json_object_get(it, "subject")), words, 0, SUGGEST_TERMS);
    json_array_foreach (json_object_get(msgs, "items"), i, m)
        if (json_string_value(json_object_get(m, "direction")) &&
            !strcmp(json_string_value(json_object_get(m, "direction")), "inbound"))
            nw = keywords(json_string_value(json_object_get(m, "body")), words, nw, SUGGEST_TERMS);
    for (i = 0; i < nw; i++) {
        kb_hit hits[20];
        size_t n = 0;
        if (kb_search(knowledge_index(kn(r)), client, words[i], NULL, 0, 20, hits, &n, NULL))
            continue;
        for (size_t h = 0; h < n; h++) {
            size_t k = 0;
            while (k < nacc && acc[k].id != hits[h].doc_id)
                k++;
            if (k == nacc)
                acc[nacc++] = (scored){hits[h].doc_id, 0};
            acc[k].score += hits[h].score;
        }
        snprintf(query + strlen(query), sizeof query - strlen(query), "%s%s", i ? " " : "",
                 words[i]);
    }
    if (!store_article_feedback_counts(r->tx, client, &fb))
        json_array_foreach (fb, i, row)
            for (size_t k = 0; k < nacc; k++)
                if (acc[k].id == json_integer_value(json_object_get(row, "article_id"))) {
                    double net = (double)(json_integer_value(json_object_get(row, "helpful")) -
                                          json_integer_value(json_object_get(row, "not_helpful")));
                    acc[k].score *= 1.0 + 0.2 * tanh(net / 3.0);
                }
    qsort(acc, nacc, sizeof *acc, by_score);
    json_t *items = json_array();
    for (size_t k = 0; k < nacc && json_array_size(items) < SUGGEST_MAX; k++) {
        /* The snippet highlights any of the words: one search term each. */
        json_t *v = hit_view(r, acc[k].id, acc[k].score, query);
        if (v)
            json_array_append_new(items, v);
    }
    r->out = json_pack("{s:I, s:o, s:s}", "interaction_id", (json_int_t)r->ids[0], "items", items,
                       "query", query);
    json_decref(it);
    json_decref(msgs);
    json_decref(fb);
    return req_reply(r, 200, 0);
}

int api_suggestion_feedback(req *r)
{
    return req_reply(r, 201,
                     store_article_feedback(r->tx, r->ids[0], r->ids[1],
                                            json_is_true(json_object_get(r->in, "helpful")),
                                            &r->out));
}

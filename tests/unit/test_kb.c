/* test_kb.c - src/core/kb: stemming, BM25 scores and the title boost,
 * phrases, prefixes, tag and audience filters, client isolation, updates,
 * removal and compaction, pages, snippets (highlighting, escaping, cuts),
 * hostile input, allocation failures and concurrent use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/kb.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXH 64

typedef struct res {
    size_t n, total;
    kb_hit h[MAXH];
} res;

static res search_f(kb_index *ix, int64_t client, const char *q, const kb_filter *f)
{
    res r;
    memset(&r, 0, sizeof r);
    assert_int_equal(kb_search(ix, client, q, f, 0, MAXH, r.h, &r.n, &r.total), CD_OK);
    return r;
}

static res search(kb_index *ix, int64_t client, const char *q)
{
    return search_f(ix, client, q, NULL);
}

static int has(const res *r, int64_t doc)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->h[i].doc_id == doc)
            return 1;
    return 0;
}

static void put(kb_index *ix, int64_t doc, int64_t client, const char *title, const char *body)
{
    assert_int_equal(kb_put(ix, doc, client, title, body, NULL, 0, KB_PUBLIC), CD_OK);
}

static void test_stemming(void **state)
{
    (void)state;
    kb_index *ix = kb_new("english");
    assert_non_null(ix);
    put(ix, 1, 7, "Refund policy", "How refunds work.");
    put(ix, 2, 7, "Card declined", "We refunded the charge to your card.");
    put(ix, 3, 7, "Delivery times", "Parcels arrive within five days.");
    const char *forms[] = {"refund", "refunds", "REFUNDED", "Refunding"};
    for (size_t i = 0; i < 4; i++) {
        res r = search(ix, 7, forms[i]);
        assert_int_equal(r.total, 2);
        assert_int_equal(r.n, 2);
        assert_true(has(&r, 1) && has(&r, 2));
        assert_false(has(&r, 3));
    }
    res r = search(ix, 7, "deliveries");
    assert_int_equal(r.n, 1);
    assert_int_equal(r.h[0].doc_id, 3);
    r = search(ix, 7, "arriving parcel");
    assert_int_equal(r.n, 1);
    /* All terms must match. */
    r = search(ix, 7, "refund parcel");
    assert_int_equal(r.n, 0);
    assert_int_equal(r.total, 0);
    r = search(ix, 7, "zebra");
    assert_int_equal(r.n, 0);
    kb_free(ix);
}

/* BM25 as documented in kb.h, for checking scores. */
static double bm25(double wf, double len, double avgdl, double n, double df)
{
    double idf = log((n - df + 0.5) / (df + 0.5));
    if (idf <= 0)
        idf = 1e-6;
    return idf * (wf * 2.2) / (wf + 1.2 * (1 - 0.75 + 0.75 * len / avgdl));
}

static void test_scores_and_title_boost(void **state)
{
    (void)state;
    kb_index *ix = kb_new(NULL);
    assert_non_null(ix);
    /* Same length (7 tokens), "password" once: in the title vs the body. */
    put(ix, 1, 1, "Other topic", "the password can be changed");
    put(ix, 2, 1, "Password help", "the router can be restarted");
    put(ix, 3, 1, "Delivery", "parcels arrive in five days");
    put(ix, 4, 1, "Invoices", "invoices are sent every month");
    put(ix, 5, 1, "Opening hours", "we are open from nine");
    put(ix, 6, 1, "Appointments", "book an appointment online today");
    res r = search(ix, 1, "password");
    assert_int_equal(r.n, 2);
    assert_int_equal(r.h[0].doc_id, 2);
    assert_int_equal(r.h[1].doc_id, 1);
    double avgdl = 39.0 / 6.0;
    assert_true(fabs(r.h[0].score - bm25(KB_TITLE_WEIGHT, 7, avgdl, 6, 2)) < 1e-12);
    assert_true(fabs(r.h[1].score - bm25(1, 7, avgdl, 6, 2)) < 1e-12);
    /* Two terms: the sum of both. */
    r = search(ix, 1, "password router");
    assert_int_equal(r.n, 1);
    assert_int_equal(r.h[0].doc_id, 2);
    assert_true(fabs(r.h[0].score -
                     (bm25(KB_TITLE_WEIGHT, 7, avgdl, 6, 2) + bm25(1, 7, avgdl, 6, 1))) < 1e-12);
    /* Term frequency counts; a longer document weighs less. */
    put(ix, 7, 1, "Router", "router router router reboot");
    put(ix, 8, 1, "Router", "router reboot steps and more words here to read");
    r = search(ix, 1, "router");
    assert_int_equal(r.n, 3);
    assert_int_equal(r.h[0].doc_id, 7);
    assert_int_equal(r.h[2].doc_id, 2);
    kb_free(ix);
}

static void test_phrase(void **state)
{
    (void)state;
    kb_index *ix = kb_new("english");
    put(ix, 1, 1, "Account", "You can reset your password from the login page.");
    put(ix, 2, 1, "Router", "Your password is on the router; reset it to factory settings.");
    put(ix, 3, 1, "How to reset", "your password is sent by email");
    put(ix, 4, 1, "Reset your passwords", "In the account settings.");
    res r = search(ix, 1, "reset your password");
    assert_int_equal(r.total, 4);
    r = search(ix, 1, "\"reset your password\"");
    assert_int_equal(r.total, 2);
    assert_true(has(&r, 1));
    assert_true(has(&r, 4)); /* stems: passwords */
    assert_false(has(&r, 2));
    assert_false(has(&r, 3)); /* a phrase never spans title and body */
    /* Order matters. */
    r = search(ix, 1, "\"password your reset\"");
    assert_int_equal(r.total, 0);
    /* Unterminated quote: phrase to the end. */
    r = search(ix, 1, "\"reset your password");
    assert_int_equal(r.total, 2);
    /* Phrase plus a term. */
    r = search(ix, 1, "\"reset your password\" login");
    assert_int_equal(r.total, 1);
    assert_int_equal(r.h[0].doc_id, 1);
    /* A hyphenated bare word is a phrase. */
    put(ix, 5, 1, "Wi-Fi", "wi-fi setup");
    put(ix, 6, 1, "Fi", "fi and wi are words");
    r = search(ix, 1, "wi-fi");
    assert_int_equal(r.total, 1);
    assert_int_equal(r.h[0].doc_id, 5);
    /* Repeated phrase occurrences count as frequency. */
    put(ix, 7, 1, "x", "card declined card declined card declined");
    put(ix, 8, 1, "x", "card declined and other words in here again");
    r = search(ix, 1, "\"card declined\"");
    assert_int_equal(r.n, 2);
    assert_int_equal(r.h[0].doc_id, 7);
    kb_free(ix);
}

static void test_prefix(void **state)
{
    (void)state;
    kb_index *ix = kb_new("english");
    put(ix, 1, 1, "Password", "Change the password.");
    put(ix, 2, 1, "Passport", "Bring your passport.");
    put(ix, 3, 1, "Pastry", "Cakes and pastry.");
    put(ix, 4, 2, "Passwords", "client two passwords");
    res r = search(ix, 1, "pass*");
    assert_int_equal(r.total, 2);
    assert_true(has(&r, 1) && has(&r, 2));
    r = search(ix, 1, "passw*");
    assert_int_equal(r.total, 1);
    assert_int_equal(r.h[0].doc_id, 1);
    r = search(ix, 1, "pas*");
    assert_int_equal(r.total, 3);
    r = search(ix, 1, "pass"); /* no star: a word */
    assert_int_equal(r.total, 0);
    r = search(ix, 1, "xyz*");
    assert_int_equal(r.total, 0);
    /* The stem of what was typed counts too: passwords* -> password. */
    r = search(ix, 1, "passwords*");
    assert_int_equal(r.total, 1);
    /* Prefix and term together. */
    r = search(ix, 1, "pass* bring");
    assert_int_equal(r.total, 1);
    assert_int_equal(r.h[0].doc_id, 2);
    /* A lone star is nothing. */
    r = search(ix, 1, "*");
    assert_int_equal(r.total, 0);
    kb_free(ix);
}

static void test_filters(void **state)
{
    (void)state;
    kb_index *ix = kb_new("english");
    const char *t1[] = {"billing"}, *t2[] = {"Billing", "cards"}, *t3[] = {"cards"};
    assert_int_equal(kb_put(ix, 1, 1, "Invoice", "invoice help", t1, 1, KB_PUBLIC), CD_OK);
    assert_int_equal(kb_put(ix, 2, 1, "Invoice", "invoice help", t2, 2, KB_INTERNAL), CD_OK);
    assert_int_equal(kb_put(ix, 3, 1, "Invoice", "invoice help", t3, 1, KB_PUBLIC), CD_OK);
    kb_filter f = {.audience = KB_PUBLIC};
    res r = search_f(ix, 1, "invoice", &f);
    assert_int_equal(r.total, 2);
    assert_true(has(&r, 1) && has(&r, 3));
    f.audience = KB_INTERNAL;
    r = search_f(ix, 1, "invoice", &f);
    assert_int_equal(r.total, 1);
    assert_int_equal(r.h[0].doc_id, 2);
    f.audience = KB_INTERNAL | KB_PUBLIC;
    r = search_f(ix, 1, "invoice", &f);
    assert_int_equal(r.total, 3);
    const char *billing[] = {"BILLING"};
    f = (kb_filter){.tags = billing, .ntags = 1};
    r = search_f(ix, 1, "invoice", &f);
    assert_int_equal(r.total, 2);
    assert_true(has(&r, 1) && has(&r, 2));
    const char *both[] = {"billing", "cards"};
    f = (kb_filter){.tags = both, .ntags = 2};
    r = search_f(ix, 1, "invoice", &f);
    assert_int_equal(r.total, 1);
    assert_int_equal(r.h[0].doc_id, 2);
    f.audience = KB_PUBLIC;
    r = search_f(ix, 1, "invoice", &f);
    assert_int_equal(r.total, 0);
    const char *none[] = {"shipping"};
    f = (kb_filter){.tags = none, .ntags = 1};
    r = search_f(ix, 1, "invoice", &f);
    assert_int_equal(r.total, 0);
    /* Tags are not words. */
    r = search(ix, 1, "billing");
    assert_int_equal(r.total, 0);
    /* Invalid filters. */
    size_t n, tot;
    kb_hit h[4];
    f = (kb_filter){.audience = 4};
    assert_int_equal(kb_search(ix, 1, "invoice", &f, 0, 4, h, &n, &tot), CD_EINVAL);
    const char *empty[] = {""};
    f = (kb_filter){.tags = empty, .ntags = 1};
    assert_int_equal(kb_search(ix, 1, "invoice", &f, 0, 4, h, &n, &tot), CD_EINVAL);
    assert_int_equal(kb_put(ix, 9, 1, "x", "y", empty, 1, KB_PUBLIC), CD_EINVAL);
    assert_int_equal(kb_put(ix, 9, 1, "x", "y", NULL, 0, 3), CD_EINVAL);
    kb_free(ix);
}

static void test_client_isolation(void **state)
{
    (void)state;
    kb_index *ix = kb_new("english");
    put(ix, 10, 1, "Refund policy", "Refunds take five days.");
    put(ix, 20, 2, "Refund policy", "Refunds take five days.");
    res r = search(ix, 1, "refund");
    assert_int_equal(r.total, 1);
    assert_int_equal(r.h[0].doc_id, 10);
    double s1 = r.h[0].score;
    r = search(ix, 2, "refund");
    assert_int_equal(r.total, 1);
    assert_int_equal(r.h[0].doc_id, 20);
    r = search(ix, 3, "refund");
    assert_int_equal(r.total, 0);
    /* Client 1's scores do not move with client 2's documents. */
    put(ix, 11, 1, "Other", "Nothing about money here at all.");
    r = search(ix, 1, "refund");
    s1 = r.h[0].score;
    char body[64];
    for (int i = 0; i < 50; i++) {
        snprintf(body, sizeof body, "refund refund number %d", i);
        put(ix, 100 + i, 2, "Refund", body);
    }
    r = search(ix, 1, "refund*");
    assert_int_equal(r.total, 1);
    r = search(ix, 1, "refund");
    assert_int_equal(r.total, 1);
    assert_int_equal(r.h[0].doc_id, 10);
    assert_true(r.h[0].score == s1);
    r = search(ix, 2, "\"refund policy\"");
    assert_int_equal(r.total, 1);
    assert_int_equal(r.h[0].doc_id, 20);
    /* A document moved to another client leaves the first. */
    put(ix, 10, 2, "Refund policy", "Refunds take five days.");
    r = search(ix, 1, "refund");
    assert_int_equal(r.total, 0);
    r = search(ix, 2, "\"refund policy\"");
    assert_int_equal(r.total, 2);
    int64_t cl = 0;
    assert_true(kb_contains(ix, 10, &cl));
    assert_int_equal(cl, 2);
    kb_free(ix);
}

/* Ids and scores of a search, in order, for comparing two indexes. */
static void same_results(kb_index *a, kb_index *b, int64_t client, const char *q)
{
    res ra = search(a, client, q), rb = search(b, client, q);
    assert_int_equal(ra.total, rb.total);
    assert_int_equal(ra.n, rb.n);
    for (size_t i = 0; i < ra.n; i++) {
        assert_int_equal(ra.h[i].doc_id, rb.h[i].doc_id);
        assert_true(ra.h[i].score == rb.h[i].score);
    }
}

static void gen_body(char *buf, size_t cap, int i)
{
    static const char *w[] = {"router", "password", "refund", "card",  "delivery", "invoice",
                              "reset",  "account",  "modem",  "login", "parcel",   "charge"};
    size_t n = 0;
    for (int k = 0; k < 12 && n + 16 < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%s ", w[(i * 7 + k * k + i / 3) % 12]);
}

static void test_update_remove_compact(void **state)
{
    (void)state;
    kb_index *ix = kb_new("english");
    put(ix, 1, 1, "Router", "Restart the router.");
    assert_int_equal(search(ix, 1, "router").total, 1);
    put(ix, 1, 1, "Modem", "Restart the modem.");
    assert_int_equal(search(ix, 1, "router").total, 0);
    assert_int_equal(search(ix, 1, "modem").total, 1);
    assert_int_equal(search(ix, 1, "restart").total, 1);
    assert_int_equal(kb_remove(ix, 1), CD_OK);
    assert_int_equal(search(ix, 1, "modem").total, 0);
    assert_int_equal(search(ix, 1, "restart").total, 0);
    assert_int_equal(kb_remove(ix, 1), CD_ENOTFOUND);
    assert_false(kb_contains(ix, 1, NULL));

    /* Many writes, removes and replacements (compaction runs several
     * times) give the same results as a fresh index of what is left. */
    kb_index *fresh = kb_new("english");
    char body[256], title[64];
    for (int i = 1; i <= 600; i++) {
        gen_body(body, sizeof body, i);
        snprintf(title, sizeof title, "Article %d %s", i, i % 2 ? "router" : "refund");
        put(ix, i, 1 + i % 3, title, body);
    }
    for (int i = 1; i <= 600; i++) {
        if (i % 5 == 0) {
            gen_body(body, sizeof body, i + 1000);
            snprintf(title, sizeof title, "Changed %d", i);
            put(ix, i, 1 + i % 3, title, body);
        } else if (i % 5 != 1) {
            assert_int_equal(kb_remove(ix, i), CD_OK);
        }
    }
    for (int i = 1; i <= 600; i++) {
        if (i % 5 == 0) {
            gen_body(body, sizeof body, i + 1000);
            snprintf(title, sizeof title, "Changed %d", i);
            put(fresh, i, 1 + i % 3, title, body);
        } else if (i % 5 == 1) {
            gen_body(body, sizeof body, i);
            snprintf(title, sizeof title, "Article %d %s", i, i % 2 ? "router" : "refund");
            put(fresh, i, 1 + i % 3, title, body);
        }
    }
    kb_stats st;
    kb_get_stats(ix, &st);
    assert_int_equal(st.docs, 240);
    const char *qs[] = {"router",  "refund card", "\"reset account\"",  "pass*",
                        "changed", "article",     "modem login parcel", "inv*"};
    for (int c = 1; c <= 3; c++)
        for (size_t q = 0; q < sizeof qs / sizeof qs[0]; q++)
            same_results(ix, fresh, c, qs[q]);
    assert_int_equal(search(ix, 2, "article").total + search(ix, 1, "article").total +
                         search(ix, 3, "article").total,
                     120);
    kb_free(fresh);
    kb_free(ix);
}

static void test_pages(void **state)
{
    (void)state;
    kb_index *ix = kb_new("english");
    char body[128];
    for (int i = 1; i <= 25; i++) {
        int k = 0;
        size_t n = 0;
        for (; k < i % 7 + 1; k++)
            n += (size_t)snprintf(body + n, sizeof body - n, "refund ");
        snprintf(body + n, sizeof body - n, "and %d other words", i);
        put(ix, i, 1, "Page", body);
    }
    res all = search(ix, 1, "refund");
    assert_int_equal(all.total, 25);
    assert_int_equal(all.n, 25);
    for (size_t i = 1; i < all.n; i++)
        assert_true(all.h[i - 1].score > all.h[i].score || (all.h[i - 1].score == all.h[i].score &&
                                                            all.h[i - 1].doc_id < all.h[i].doc_id));
    kb_hit h[10];
    size_t n, tot;
    for (size_t off = 0; off < 25; off += 10) {
        assert_int_equal(kb_search(ix, 1, "refund", NULL, off, 10, h, &n, &tot), CD_OK);
        assert_int_equal(tot, 25);
        assert_int_equal(n, off + 10 <= 25 ? 10 : 25 - off);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(h[i].doc_id, all.h[off + i].doc_id);
    }
    assert_int_equal(kb_search(ix, 1, "refund", NULL, 30, 10, h, &n, &tot), CD_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tot, 25);
    /* limit 0 counts only */
    assert_int_equal(kb_search(ix, 1, "refund", NULL, 0, 0, NULL, &n, &tot), CD_OK);
    assert_int_equal(tot, 25);
    assert_int_equal(kb_search(ix, 1, "refund", NULL, KB_WINDOW_MAX, 1, h, &n, &tot), CD_EINVAL);
    assert_int_equal(kb_search(ix, 1, NULL, NULL, 0, 1, h, &n, &tot), CD_EINVAL);
    assert_int_equal(kb_search(ix, 0, "refund", NULL, 0, 1, h, &n, &tot), CD_EINVAL);
    kb_free(ix);
}

static const char *snip(kb_index *ix, const char *q, const char *text, size_t words, size_t cap)
{
    static char out[4096];
    assert_true(cap <= sizeof out);
    memset(out, 'X', sizeof out);
    assert_int_equal(kb_snippet(ix, q, text, words, out, cap), CD_OK);
    assert_true(strlen(out) < cap);
    return out;
}

static void test_snippets(void **state)
{
    (void)state;
    kb_index *ix = kb_new("english");
    put(ix, 1, 1, "x", "refund");
    assert_string_equal(snip(ix, "refund", "Your <b>refunds</b> & \"more\" isn't late.", 0, 4096),
                        "Your &lt;b&gt;<mark>refunds</mark>&lt;/b&gt; &amp; &quot;more&quot; "
                        "isn&#39;t late.");
    assert_string_equal(snip(ix, "refund", "## **Refund** `policy`\n\n* step", 0, 4096),
                        "<mark>Refund</mark> policy step");
    assert_string_equal(snip(ix, "card", "Bad \xff\xfe bytes card", 0, 4096),
                        "Bad \xef\xbf\xbd\xef\xbf\xbd bytes <mark>card</mark>");
    assert_string_equal(
        snip(ix, "\"reset password\" rout*", "Reset the password on the router", 0, 4096),
        "<mark>Reset</mark> the <mark>password</mark> on the <mark>router</mark>");
    assert_string_equal(snip(ix, "zebra", "one two three", 0, 4096), "one two three");
    /* The window goes to the matches, with a little context before. */
    char text[4096];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "w%d ", i);
    snprintf(text + n, sizeof text - n, "the card was declined twice. ");
    n = strlen(text);
    for (int i = 100; i < 200; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "w%d ", i);
    const char *o = snip(ix, "card declined", text, 10, 4096);
    assert_string_equal(o, "\xe2\x80\xa6 w96 w97 w98 w99 the <mark>card</mark> was "
                           "<mark>declined</mark> twice. w100 \xe2\x80\xa6");
    /* Most distinct terms beats most matches. */
    o = snip(ix, "card refund",
             "card card card card x x x x x x x x x x x x x x x x x x card refund y", 4, 4096);
    assert_non_null(strstr(o, "<mark>card</mark> <mark>refund</mark>"));
    /* Too small an output: cut between words, an ellipsis, no broken tag. */
    o = snip(ix, "card", "card card card card card card", 0, 40);
    assert_string_equal(o, "<mark>card</mark> <mark>card</mark> \xe2\x80\xa6");
    o = snip(ix, "card", "card", 0, 5);
    assert_string_equal(o, "");
    char tiny[1];
    assert_int_equal(kb_snippet(ix, "card", "card", 0, tiny, 0), CD_EINVAL);
    kb_free(ix);
}

static void test_hostile(void **state)
{
    (void)state;
    kb_index *ix = kb_new("english");
    assert_null(kb_new("klingon"));
    /* Invalid UTF-8, control bytes, overlong forms, surrogates. */
    const char *junk = "caf\xc3\xa9 \xff\xfe\xfd r\xc3\xa9sum\xc3\xa9 \xc0\xaf \xed\xa0\x80 "
                       "\x01\x02\x7f router\xe2\x80\x94modem \xf0\x9f\x98\x80 emoji";
    put(ix, 1, 1, "CAF\xc3\x89 \xe2\x80\x9cquoted\xe2\x80\x9d", junk);
    assert_int_equal(search(ix, 1, "cafe").total, 1);        /* accents folded */
    assert_int_equal(search(ix, 1, "CAF\xc3\xa9").total, 1); /* either way */
    assert_int_equal(search(ix, 1, "resume").total, 1);
    assert_int_equal(search(ix, 1, "quoted").total, 1); /* curly quotes separate */
    assert_int_equal(search(ix, 1, "router").total, 1); /* em dash separates */
    assert_int_equal(search(ix, 1, "emoji").total, 1);
    assert_int_equal(search(ix, 1, "\xff\xfe caf\xc3\xa9 \xc0").total, 1);
    /* Empty and termless queries. */
    const char *empty[] = {"", "   ", "\"\"", "*", "\xff\xfe", "!!! ??? ...", "\"", "-- ++"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++)
        assert_int_equal(search(ix, 1, empty[i]).total, 0);
    /* Bytes after a NUL are not part of the text. */
    const char q[] = "emoji\0zzzz";
    assert_int_equal(search(ix, 1, q).total, 1);
    const char body[] = "visible\0hidden";
    put(ix, 2, 1, "t", body);
    assert_int_equal(search(ix, 1, "visible").total, 1);
    assert_int_equal(search(ix, 1, "hidden").total, 0);
    /* Long tokens are cut, consistently on both sides. */
    char lng[201];
    memset(lng, 'q', 200);
    lng[200] = 0;
    put(ix, 3, 1, "long", lng);
    assert_int_equal(search(ix, 1, lng).total, 1);
    lng[80] = 0;
    assert_int_equal(search(ix, 1, lng).total, 1);
    lng[40] = 0;
    assert_int_equal(search(ix, 1, lng).total, 0);
    /* A 1 MB query: random bytes, and a word repeated. */
    size_t mb = 1 << 20;
    char *big = malloc(mb + 1);
    assert_non_null(big);
    unsigned x = 12345;
    for (size_t i = 0; i < mb; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (char)((x >> 16) % 255 + 1);
    }
    big[mb] = 0;
    size_t nh, tot;
    kb_hit h[10];
    assert_int_equal(kb_search(ix, 1, big, NULL, 0, 10, h, &nh, &tot), CD_OK);
    char out[256];
    assert_int_equal(kb_snippet(ix, big, big, 0, out, sizeof out), CD_OK);
    assert_true(strlen(out) < sizeof out);
    for (size_t i = 0; i + 6 <= mb; i += 6)
        memcpy(big + i, "emoji ", 6);
    big[mb - mb % 6] = 0;
    assert_int_equal(kb_search(ix, 1, big, NULL, 0, 10, h, &nh, &tot), CD_OK);
    assert_int_equal(tot, 1);
    memset(big, '"', mb);
    assert_int_equal(kb_search(ix, 1, big, NULL, 0, 10, h, &nh, &tot), CD_OK);
    assert_int_equal(tot, 0);
    memset(big, 'a', mb);
    big[mb - 1] = '*';
    assert_int_equal(kb_search(ix, 1, big, NULL, 0, 10, h, &nh, &tot), CD_OK);
    free(big);
    /* Only the first KB_QUERY_TERMS terms count. */
    char many[1024];
    size_t n = 0;
    for (int i = 0; i < KB_QUERY_TERMS; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "emoji ");
    snprintf(many + n, sizeof many - n, "nosuchword");
    assert_int_equal(search(ix, 1, many).total, 1);
    many[n - 1] = 'x'; /* the last counted term no longer matches */
    assert_int_equal(search(ix, 1, many).total, 0);
    /* Bad arguments. */
    assert_int_equal(kb_put(ix, 0, 1, "t", "b", NULL, 0, KB_PUBLIC), CD_EINVAL);
    assert_int_equal(kb_put(ix, 1, -1, "t", "b", NULL, 0, KB_PUBLIC), CD_EINVAL);
    assert_int_equal(kb_put(ix, 5, 1, NULL, NULL, NULL, 0, KB_PUBLIC), CD_OK);
    assert_int_equal(kb_remove(ix, -3), CD_ENOTFOUND);
    kb_free(ix);
}

/* Every allocation of a put failing in turn leaves the index as it was. */
static void test_alloc_failures(void **state)
{
    (void)state;
    int done = 0;
    for (unsigned long fail = 1; !done && fail < 5000; fail++) {
        kb_index *ix = kb_new("english");
        assert_non_null(ix);
        put(ix, 1, 1, "Refund", "refund card");
        put(ix, 2, 2, "Router", "router reset");
        res before = search(ix, 1, "refund");
        const char *tags[] = {"billing"};
        cd_mem_fail_after(fail);
        int rc = kb_put(ix, 1, 3, "Brand new words", "zephyr quartz refund", tags, 1, KB_INTERNAL);
        cd_mem_fail_after(0);
        if (rc == CD_OK) {
            done = 1;
            assert_int_equal(search(ix, 1, "refund").total, 0);
            assert_int_equal(search(ix, 3, "zephyr").total, 1);
        } else {
            assert_int_equal(rc, CD_ENOMEM);
            res after = search(ix, 1, "refund");
            assert_int_equal(after.total, before.total);
            assert_true(after.h[0].score == before.h[0].score);
            assert_int_equal(search(ix, 3, "zephyr").total, 0);
            assert_int_equal(search(ix, 2, "router").total, 1);
        }
        kb_free(ix);
    }
    assert_true(done);
}

/* Once the pool has grown, searches and snippets allocate nothing. */
static void test_no_alloc_per_query(void **state)
{
    (void)state;
    kb_index *ix = kb_new("english");
    char body[256];
    for (int i = 1; i <= 300; i++) {
        gen_body(body, sizeof body, i);
        put(ix, i, 1, "Router password refund", body);
    }
    const char *qs[] = {"router", "refund card reset", "\"reset account\" modem", "pass* charge",
                        "r*",     "nosuchword",        "\"card delivery\""};
    kb_hit h[20];
    size_t n, tot;
    char out[512];
    unsigned long before = 0;
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            before = cd_mem_count();
        for (size_t q = 0; q < sizeof qs / sizeof qs[0]; q++) {
            assert_int_equal(kb_search(ix, 1, qs[q], NULL, 0, 20, h, &n, &tot), CD_OK);
            assert_int_equal(kb_snippet(ix, qs[q], body, 0, out, sizeof out), CD_OK);
        }
        if (round == 1)
            assert_int_equal(cd_mem_count(), before);
    }
    assert_true(search(ix, 1, "r*").total > 0);
    kb_free(ix);
}

typedef struct thr {
    kb_index *ix;
    int stop, bad;
} thr;

static void *reader(void *arg)
{
    thr *t = arg;
    kb_hit h[10];
    size_t n, tot;
    char out[512];
    for (int i = 0; i < 3000; i++) {
        if (kb_search(t->ix, 1, "refund card", NULL, 0, 10, h, &n, &tot) != CD_OK || tot < 1)
            t->bad++;
        if (kb_search(t->ix, 1, "\"card declined\" pay*", NULL, 0, 10, h, &n, &tot) != CD_OK)
            t->bad++;
        if (kb_snippet(t->ix, "refund", "a refund text", 0, out, sizeof out) != CD_OK)
            t->bad++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    thr t = {kb_new("english"), 0, 0};
    put(t.ix, 1, 1, "Refund", "refund to your card");
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader, &t), 0);
    char body[128];
    for (int i = 0; i < 2000; i++) {
        snprintf(body, sizeof body, "card declined payment refund %d", i);
        put(t.ix, 100 + i % 200, 1, "Card declined", body);
        if (i % 3 == 0)
            kb_remove(t.ix, 100 + (i * 7) % 200);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(t.bad, 0);
    kb_free(t.ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stemming),
        cmocka_unit_test(test_scores_and_title_boost),
        cmocka_unit_test(test_phrase),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_client_isolation),
        cmocka_unit_test(test_update_remove_compact),
        cmocka_unit_test(test_pages),
        cmocka_unit_test(test_snippets),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_no_alloc_per_query),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

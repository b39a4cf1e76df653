/* bench/redact.c - masking speed on support text, against PCRE2-JIT.
 *
 * A deterministic corpus of support messages (greetings, complaints, order
 * and tracking numbers, dates, times, amounts, phone numbers, references)
 * in which about one message in twelve carries a payment card in one of
 * twelve layouts, often with its expiry date or security code, and others an
 * SSN or an IBAN. Both scanners mask every message of the corpus, one call
 * per message, as messages arrive in the product:
 *
 *   redact  src/core/redact.c (cards, codes, expiry dates, SSNs, IBANs)
 *   pcre2   one JIT-compiled PCRE2 pattern with the same five alternatives,
 *           each match then checked as redact checks it (Luhn and issuer
 *           range for cards, area/group/serial for SSNs, mod-97 and the
 *           country's length for IBANs), a failed check retried one byte on
 *
 * misses = planted items a scanner left readable (anything but the last
 * four of a card, SSN or IBAN; any digit of a code or expiry date). Each
 * scanner runs 7 times over the corpus; medians are reported. fp_rate =
 * share of 120,000 generated digit strings that are not cards (order,
 * phone, tracking numbers, timestamps, amounts, references) in which
 * redact masked anything.
 *
 *   bench_redact [--mb N]    corpus size in MB (default 16) */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/redact.h"

#include "../tests/support/cardgen.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 7

typedef struct span {
    size_t off, len, keep;
} span;

typedef struct corpus {
    char *text;
    size_t len, cap;
    size_t *msg; /* message start offsets; msg[nmsg] = len */
    size_t nmsg, msgcap;
    span *planted;
    size_t nplanted, plantcap;
} corpus;

static void grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return;
    *cap = need * 2;
    *p = realloc(*p, *cap * size);
    if (!*p) {
        fprintf(stderr, "bench_redact: out of memory\n");
        exit(1);
    }
}

static void put(corpus *c, const char *s, size_t n)
{
    grow((void **)&c->text, &c->cap, c->len + n + 1, 1);
    memcpy(c->text + c->len, s, n);
    c->len += n;
    c->text[c->len] = 0;
}

/* fmt is one of the filler sentences below, each taking up to four unsigned. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void putf(corpus *c, const char *fmt, unsigned a, unsigned b, unsigned d, unsigned e)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, fmt, a, b, d, e);
    put(c, buf, (size_t)n);
}
#pragma GCC diagnostic pop

static void plant(corpus *c, const char *s, size_t n, size_t keep)
{
    grow((void **)&c->planted, &c->plantcap, c->nplanted + 1, sizeof(span));
    c->planted[c->nplanted++] = (span){c->len, n, keep};
    put(c, s, n);
}

static const char *const fillers[] = {
    "Hi team, I was charged twice for order #%u on %u/%u/2026 and nobody has answered. ",
    "My internet has been down since %u:%02u pm and I restarted the router %u times already. ",
    "Please call me back at +1 (%03u) %03u-%04u, I am home all afternoon. ",
    "The amount of $%u.%02u was taken from my account even though I cancelled. ",
    "I have been a loyal customer for %u years and this is honestly unacceptable. ",
    "Tracking number 9400 %04u %04u %04u shows delivered but nothing arrived at my door. ",
    "Can you explain why my monthly bill went up by %u%% without any notice? ",
    "Thanks so much for the quick help, have a great day! ",
    "Reference for the claim: %04u-%04u-%04u, submitted last week. ",
    "Your appointment is confirmed for %u/%u at %u:%02u; please arrive early. ",
    "I tried the steps in the article but the app still shows error code %u. ",
    "We reviewed your account and applied a credit of %u.%02u dollars to the next invoice. ",
    "The technician visit window is between %u and %u o'clock tomorrow. ",
    "Hello, I moved to a new address and need to update my billing details please. ",
};
#define NFILLERS (sizeof fillers / sizeof *fillers)

static void iban(cg_rng *r, char *out)
{
    static const struct {
        const char *cc;
        int len;
    } cs[] = {{"DE", 22}, {"FR", 27}, {"NL", 18}, {"ES", 24}, {"IT", 27}};
    int k = (int)cg_below(r, 5), len = cs[k].len;
    char raw[40], num[100];
    raw[0] = cs[k].cc[0], raw[1] = cs[k].cc[1], raw[2] = raw[3] = '0';
    for (int i = 4; i < len; i++)
        raw[i] = (k == 2 && i < 8) || (k == 4 && i == 4) ? (char)('A' + cg_below(r, 26))
                                                          : (char)('0' + cg_below(r, 10));
    /* check digits: 98 - (BBAN + country + 00) mod 97 */
    size_t n = 0;
    for (int i = 0; i < len; i++) {
        char ch = raw[(i + 4) % len];
        n += (size_t)(ch >= 'A' ? sprintf(num + n, "%d", ch - 'A' + 10) : sprintf(num + n, "%c", ch));
    }
    unsigned rem = 0;
    for (size_t i = 0; i < n; i++)
        rem = (rem * 10 + (unsigned)(num[i] - '0')) % 97;
    unsigned check = 98 - rem;
    raw[2] = (char)('0' + check / 10), raw[3] = (char)('0' + check % 10);
    int spaced = (int)cg_below(r, 2), o = 0;
    for (int i = 0; i < len; i++) {
        if (spaced && i && i % 4 == 0)
            out[o++] = ' ';
        out[o++] = raw[i];
    }
    out[o] = 0;
}

static void build(corpus *c, size_t bytes)
{
    cg_rng r = {2026};
    char d[24], f[96], buf[96];
    while (c->len < bytes) {
        grow((void **)&c->msg, &c->msgcap, c->nmsg + 2, sizeof(size_t));
        c->msg[c->nmsg++] = c->len;
        unsigned sentences = 2 + cg_below(&r, 8), special = cg_below(&r, 24);
        for (unsigned s = 0; s < sentences; s++) {
            putf(c, fillers[cg_below(&r, NFILLERS)], 1 + cg_below(&r, 99999), cg_below(&r, 60),
                 cg_below(&r, 9999), cg_below(&r, 9999));
            if (s != sentences / 2)
                continue;
            if (special < 2) { /* a card, maybe with its expiry and code */
                size_t n = cg_card(&r, d);
                size_t flen = cg_format(d, n, (int)cg_below(&r, CG_NFORMATS), f);
                put(c, "My card number is ", 18);
                plant(c, f, flen, 4);
                if (cg_below(&r, 2)) {
                    put(c, ", expires ", 10);
                    snprintf(buf, sizeof buf, "%02u/%02u", 1 + cg_below(&r, 12),
                             26 + cg_below(&r, 8));
                    plant(c, buf, 5, 0);
                }
                if (cg_below(&r, 2)) {
                    put(c, " and the CVV is ", 16);
                    snprintf(buf, sizeof buf, "%03u", cg_below(&r, 1000));
                    plant(c, buf, 3, 0);
                }
                put(c, ". ", 2);
            } else if (special == 2) {
                put(c, "For the refund my IBAN is ", 26);
                iban(&r, buf);
                plant(c, buf, strlen(buf), 4);
                put(c, ". ", 2);
            } else if (special == 3) {
                put(c, "They asked for my SSN, it is ", 29);
                snprintf(buf, sizeof buf, "%03u-%02u-%04u", 1 + cg_below(&r, 665),
                         1 + cg_below(&r, 98), 1 + cg_below(&r, 9998));
                plant(c, buf, 11, 4);
                put(c, ". ", 2);
            }
        }
        put(c, "\n", 1);
    }
    c->msg[c->nmsg] = c->len;
}

static size_t misses(const corpus *c, const char *masked)
{
    size_t bad = 0;
    for (size_t i = 0; i < c->nplanted; i++) {
        const span *p = &c->planted[i];
        size_t readable = 0;
        for (size_t j = 0; j < p->len; j++) {
            char ch = masked[p->off + j];
            readable += (ch >= '0' && ch <= '9') || (j >= 2 && ch >= 'A' && ch <= 'Z');
        }
        bad += readable > p->keep;
    }
    return bad;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- the PCRE2 peer ------------------------------------------------------ */

static const char pattern[] =
    "(?<card>(?<![0-9])[0-9](?:(?:[ \\t.\\-]|\\r?\\n(?:> ?)?){0,4}[0-9]){12,18}(?![0-9]))"
    "|(?<ssn>(?<![0-9\\-])[0-9]{3}(?<sep>[\\- ])[0-9]{2}\\k<sep>[0-9]{4}(?![0-9]))"
    "|(?<iban>\\b[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){11,30}\\b)"
    "|(?i:\\b(?:cvv2?|cvc2?|csc|security code|card code)[^0-9]{0,20}?(?<cvv>[0-9]{3,4})(?![0-9]))"
    "|(?i:\\b(?:exp(?:iry|ires|iration)?|valid thru)[^0-9]{0,20}?"
    "(?<exp>(?:0?[1-9]|1[0-2])[/\\-](?:[0-9]{4}|[0-9]{2}))(?![0-9]))";

typedef struct peer {
    pcre2_code *re;
    pcre2_match_data *md;
    uint32_t g_card, g_ssn, g_iban, g_cvv, g_exp;
} peer;

static int iban_valid(const char *s, size_t n)
{
    char v[40];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof v; i++)
        if (s[i] != ' ')
            v[k++] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
    static const struct {
        const char *cc;
        size_t len;
    } ls[] = {{"DE", 22}, {"FR", 27}, {"NL", 18}, {"ES", 24}, {"IT", 27}, {"GB", 22},
              {"BE", 16}, {"AT", 20}, {"CH", 21}, {"PL", 28}, {"PT", 25}, {"IE", 22}};
    size_t want = 0;
    for (size_t i = 0; i < sizeof ls / sizeof *ls; i++)
        if (v[0] == ls[i].cc[0] && v[1] == ls[i].cc[1])
            want = ls[i].len;
    if (k != want)
        return 0;
    unsigned rem = 0;
    for (size_t i = 0; i < k; i++) {
        char ch = v[(i + 4) % k];
        rem = ch >= 'A' ? (rem * 100 + (unsigned)(ch - 'A' + 10)) % 97
                        : (rem * 10 + (unsigned)(ch - '0')) % 97;
    }
    return rem == 1;
}

static void mask_keep(char *s, size_t n, size_t keep, int letters)
{
    size_t total = 0, seen = 0;
    for (size_t i = 0; i < n; i++)
        total += (s[i] >= '0' && s[i] <= '9') || (letters && s[i] >= 'A');
    for (size_t i = 0; i < n; i++)
        if (((s[i] >= '0' && s[i] <= '9') || (letters && s[i] >= 'A')) && seen++ + keep < total)
            s[i] = '*';
}

static size_t peer_mask(peer *p, char *s, size_t n)
{
    size_t at = 0, hits = 0;
    while (at < n) {
        int rc = pcre2_jit_match(p->re, (PCRE2_SPTR)s, n, at, 0, p->md, NULL);
        if (rc < 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
        size_t ms = ov[0], me = ov[1];
        if (ov[2 * p->g_card] != PCRE2_UNSET) {
            char d[24];
            size_t k = 0;
            for (size_t i = ms; i < me && k < sizeof d; i++)
                if (s[i] >= '0' && s[i] <= '9')
                    d[k++] = s[i];
            if (!redact_card_ok(d, k)) {
                at = ms + 1;
                continue;
            }
            mask_keep(s + ms, me - ms, 4, 0);
        } else if (ov[2 * p->g_ssn] != PCRE2_UNSET) {
            unsigned area = (unsigned)atoi(s + ms), grp = (unsigned)atoi(s + ms + 4),
                     ser = (unsigned)atoi(s + ms + 7);
            if (!area || area == 666 || area >= 900 || !grp || !ser) {
                at = ms + 1;
                continue;
            }
            mask_keep(s + ms, me - ms, 4, 0);
        } else if (ov[2 * p->g_iban] != PCRE2_UNSET) {
            if (!iban_valid(s + ms, me - ms)) {
                at = ms + 1;
                continue;
            }
            mask_keep(s + ms + 2, me - ms - 2, 4, 1);
        } else {
            uint32_t g = ov[2 * p->g_cvv] != PCRE2_UNSET ? p->g_cvv : p->g_exp;
            mask_keep(s + ov[2 * g], ov[2 * g + 1] - ov[2 * g], 0, 0);
        }
        hits++;
        at = me > ms ? me : ms + 1;
    }
    return hits;
}

static void peer_init(peer *p)
{
    int err;
    PCRE2_SIZE off;
    p->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
    if (!p->re || pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE) != 0) {
        fprintf(stderr, "bench_redact: PCRE2 pattern or JIT failed at %zu\n", (size_t)off);
        exit(1);
    }
    p->md = pcre2_match_data_create_from_pattern(p->re, NULL);
    p->g_card = (uint32_t)pcre2_substring_number_from_name(p->re, (PCRE2_SPTR) "card");
    p->g_ssn = (uint32_t)pcre2_substring_number_from_name(p->re, (PCRE2_SPTR) "ssn");
    p->g_iban = (uint32_t)pcre2_substring_number_from_name(p->re, (PCRE2_SPTR) "iban");
    p->g_cvv = (uint32_t)pcre2_substring_number_from_name(p->re, (PCRE2_SPTR) "cvv");
    p->g_exp = (uint32_t)pcre2_substring_number_from_name(p->re, (PCRE2_SPTR) "exp");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    size_t mb = 16;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc)
            mb = (size_t)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_redact [--mb N]\n");
            return 2;
        }
    }
    if (!mb)
        mb = 1;
    corpus c = {0};
    build(&c, mb << 20);
    char *work = malloc(c.len + 1);
    peer p;
    peer_init(&p);
    double ours[RUNS], theirs[RUNS];
    size_t our_hits = 0, peer_hits = 0, our_miss = 0, peer_miss = 0;
    for (int run = 0; run < RUNS; run++) {
        memcpy(work, c.text, c.len + 1);
        double t0 = now_s();
        our_hits = 0;
        for (size_t m = 0; m < c.nmsg; m++)
            our_hits += redact_buf(work + c.msg[m], c.msg[m + 1] - c.msg[m], 0, NULL);
        ours[run] = now_s() - t0;
        our_miss = misses(&c, work);

        memcpy(work, c.text, c.len + 1);
        t0 = now_s();
        peer_hits = 0;
        for (size_t m = 0; m < c.nmsg; m++)
            peer_hits += peer_mask(&p, work + c.msg[m], c.msg[m + 1] - c.msg[m]);
        theirs[run] = now_s() - t0;
        peer_miss = misses(&c, work);
    }
    /* False positives: digit strings that are not cards, by kind. */
    cg_rng fr = {7};
    size_t flagged = 0, tried = 0;
    char nc[128];
    printf("false positives on digit strings that are not cards:");
    for (int k = 0; k < CG_NOTCARD_KINDS; k++) {
        size_t f = 0;
        for (int i = 0; i < 20000; i++) {
            size_t n = cg_notcard(&fr, k, nc, sizeof nc);
            f += redact_buf(nc, n, 0, NULL) > 0;
        }
        printf(" %s %.3f%%", cg_notcard_names[k], 100.0 * (double)f / 20000);
        flagged += f;
        tried += 20000;
    }
    printf("\n");
    qsort(ours, RUNS, sizeof *ours, cmp_double);
    qsort(theirs, RUNS, sizeof *theirs, cmp_double);
    double mbytes = (double)c.len / 1e6, r_mb = mbytes / ours[RUNS / 2],
           p_mb = mbytes / theirs[RUNS / 2];
    printf("corpus: %.1f MB, %zu messages, %zu planted items\n", mbytes, c.nmsg, c.nplanted);
    printf("redact: %.0f MB/s (median of %d), %zu masked, %zu missed\n", r_mb, RUNS, our_hits,
           our_miss);
    printf("pcre2:  %.0f MB/s (median of %d), %zu masked, %zu missed\n", p_mb, RUNS, peer_hits,
           peer_miss);
    printf("redact_mb_s=%.0f pcre2_mb_s=%.0f ratio=%.2f misses=%zu pcre2_misses=%zu "
           "fp_rate=%.5f\n",
           r_mb, p_mb, r_mb / p_mb, our_miss, peer_miss, (double)flagged / (double)tried);
    pcre2_match_data_free(p.md);
    pcre2_code_free(p.re);
    free(work);
    free(c.text);
    free(c.msg);
    free(c.planted);
    return our_miss ? 1 : 0;
}

/* cardgen.h - deterministic generators of valid payment card numbers, the
 * ways people write them, and digit strings that are not cards. Shared by
 * tests/unit/test_redact.c and bench/redact.c. Header-only, static. */
#ifndef CARDGEN_H
#define CARDGEN_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct cg_rng {
    uint64_t s;
} cg_rng;

static inline uint64_t cg_next(cg_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline unsigned cg_below(cg_rng *r, unsigned n)
{
    return (unsigned)(cg_next(r) % n);
}

/* Issuer ranges: numeric prefix range [lo, hi] of `digits` digits, and the
 * card lengths issued there. */
static const struct cg_issuer {
    const char *name;
    unsigned lo, hi, digits, len_lo, len_hi;
} cg_issuers[] = {
    {"visa", 4, 4, 1, 16, 16},           {"visa13", 4, 4, 1, 13, 13},
    {"visa19", 4, 4, 1, 19, 19},         {"mastercard", 51, 55, 2, 16, 16},
    {"mastercard2", 2221, 2720, 4, 16, 16}, {"amex", 34, 34, 2, 15, 15},
    {"amex37", 37, 37, 2, 15, 15},       {"discover", 6011, 6011, 4, 16, 19},
    {"discover65", 65, 65, 2, 16, 19},   {"discover644", 644, 649, 3, 16, 16},
    {"diners", 300, 305, 3, 14, 14},     {"diners36", 36, 36, 2, 14, 14},
    {"jcb", 3528, 3589, 4, 16, 19},      {"unionpay", 62, 62, 2, 16, 19},
    {"maestro", 6759, 6759, 4, 13, 19},  {"mir", 2200, 2204, 4, 16, 16},
};
#define CG_NISSUERS (sizeof cg_issuers / sizeof *cg_issuers)

/* Writes a valid card number of n digits into d (NUL-terminated). */
static inline size_t cg_card(cg_rng *r, char *d)
{
    const struct cg_issuer *is = &cg_issuers[cg_below(r, CG_NISSUERS)];
    unsigned pre = is->lo + cg_below(r, is->hi - is->lo + 1);
    size_t n = is->len_lo + cg_below(r, is->len_hi - is->len_lo + 1), k;
    snprintf(d, 8, "%0*u", (int)is->digits, pre);
    for (k = is->digits; k < n - 1; k++)
        d[k] = (char)('0' + cg_below(r, 10));
    unsigned sum = 0;
    for (size_t i = 0; i < n - 1; i++) { /* from the right, the check digit excluded */
        unsigned v = (unsigned)(d[n - 2 - i] - '0');
        if (!(i & 1)) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    d[n - 1] = (char)('0' + (10 - sum % 10) % 10);
    d[n] = 0;
    return n;
}

/* Group sizes the way cards are printed: 4-6-5 (15), 4-6-4 (14), else 4s. */
static inline size_t cg_groups(size_t n, size_t *g)
{
    size_t k = 0;
    if (n == 15) {
        g[0] = 4, g[1] = 6, g[2] = 5;
        return 3;
    }
    if (n == 14) {
        g[0] = 4, g[1] = 6, g[2] = 4;
        return 3;
    }
    while (n) {
        g[k] = n < 4 ? n : 4;
        n -= g[k++];
    }
    return k;
}

#define CG_NFORMATS 12
static const char *const cg_format_names[CG_NFORMATS] = {
    "plain", "spaces", "dashes", "dots", "double-spaces", "spaced-dashes",
    "line-break", "quoted-crlf", "tabs", "halves", "mixed", "parenthesised"};

/* Writes card d (n digits) in format f into out; returns its length. */
static inline size_t cg_format(const char *d, size_t n, int f, char *out)
{
    size_t g[8], ng = cg_groups(n, g), o = 0, at = 0;
    if (f == 11)
        out[o++] = '(';
    for (size_t i = 0; i < ng; i++) {
        if (f == 0 || f == 9) { /* plain; halves: one break in the middle */
            if (f == 9 && at == (n / 2))
                out[o++] = ' ';
        } else if (i > 0) {
            static const char *const seps[] = {"", " ", "-", ".", "  ", " - ", " ", " ",
                                               "\t", "", " ", " "};
            const char *sp = seps[f];
            if (f == 6 && i == ng / 2)
                sp = "\n";
            if (f == 7 && i == ng / 2)
                sp = "\r\n> ";
            if (f == 10)
                sp = (i & 1) ? "-" : " ";
            memcpy(out + o, sp, strlen(sp));
            o += strlen(sp);
        }
        if (f == 9) {
            for (size_t k = 0; k < g[i]; k++) {
                if (at + k == n / 2 && k)
                    out[o++] = ' ';
                out[o++] = d[at + k];
            }
        } else {
            memcpy(out + o, d + at, g[i]);
            o += g[i];
        }
        at += g[i];
    }
    if (f == 11)
        out[o++] = ')';
    out[o] = 0;
    return o;
}

/* Digit strings that are not cards: kind 0 order numbers, 1 phone numbers,
 * 2 tracking codes, 3 timestamps, 4 amounts and quantities, 5 account and
 * reference numbers. Returns the length written. */
#define CG_NOTCARD_KINDS 6
static const char *const cg_notcard_names[CG_NOTCARD_KINDS] = {
    "order", "phone", "tracking", "timestamp", "amount", "reference"};

static inline size_t cg_notcard(cg_rng *r, int kind, char *out, size_t cap)
{
    char digits[32];
    size_t nd = 8 + cg_below(r, 9); /* 8-16 */
    for (size_t i = 0; i < sizeof digits - 1; i++)
        digits[i] = (char)('0' + cg_below(r, 10));
    digits[sizeof digits - 1] = 0;
    switch (kind) {
    case 0:
        return (size_t)snprintf(out, cap, "order #%.*s", (int)nd, digits);
    case 1:
        switch (cg_below(r, 4)) {
        case 0:
            return (size_t)snprintf(out, cap, "+1 (%03u) %03u-%04u", 200 + cg_below(r, 800),
                                    cg_below(r, 1000), cg_below(r, 10000));
        case 1:
            return (size_t)snprintf(out, cap, "+44 20 %04u %04u", cg_below(r, 10000),
                                    cg_below(r, 10000));
        case 2:
            return (size_t)snprintf(out, cap, "%03u.%03u.%04u", 200 + cg_below(r, 800),
                                    cg_below(r, 1000), cg_below(r, 10000));
        default:
            return (size_t)snprintf(out, cap, "+49 %u %.8s", 30 + cg_below(r, 900), digits);
        }
    case 2:
        switch (cg_below(r, 3)) {
        case 0: /* USPS: 22 digits in groups of 4 */
            return (size_t)snprintf(out, cap, "9400 %.4s %.4s %.4s %.4s %.2s", digits,
                                    digits + 4, digits + 8, digits + 12, digits + 16);
        case 1: /* FedEx: 12 digits */
            return (size_t)snprintf(out, cap, "tracking %.12s", digits);
        default: /* UPS */
            return (size_t)snprintf(out, cap, "1Z%03uE%.10s", cg_below(r, 1000), digits);
        }
    case 3:
        switch (cg_below(r, 3)) {
        case 0:
            return (size_t)snprintf(out, cap, "20%02u-%02u-%02u %02u:%02u:%02u", cg_below(r, 30),
                                    1 + cg_below(r, 12), 1 + cg_below(r, 28), cg_below(r, 24),
                                    cg_below(r, 60), cg_below(r, 60));
        case 1: /* epoch milliseconds */
            return (size_t)snprintf(out, cap, "ts=1%.12s", digits);
        default:
            return (size_t)snprintf(out, cap, "%02u/%02u/20%02u", 1 + cg_below(r, 12),
                                    1 + cg_below(r, 28), cg_below(r, 30));
        }
    case 4:
        return (size_t)snprintf(out, cap, "$%u.%02u for %u items", cg_below(r, 100000),
                                cg_below(r, 100), 1 + cg_below(r, 500));
    default:
        return (size_t)snprintf(out, cap, "ref %.4s-%.4s-%.4s", digits, digits + 4, digits + 8);
    }
}

#endif

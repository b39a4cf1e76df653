/* redact.c - masks payment and identity data in text; see redact.h.
 *
 * One pass. A vector loop skips to the next digit (or '@' when emails are
 * masked); everything sensitive has a digit in it. At a digit the scanner
 * reads the whole "sequence" there: groups of digits joined by short runs
 * of separators. It then tries, in order: an IBAN starting two letters
 * before the sequence, cards over windows of whole groups, SSNs, expiry
 * dates and card codes by context, and phone numbers. Nothing allocates;
 * the sequence is bounded, so the cost is linear in the input. */
#include "core/redact.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define MAX_GROUPS 24
#define MAX_SEP 4
#define CARD_MIN 13
#define CARD_MAX 19
#define CONTEXT_BACK 32 /* bytes searched before a number for a context word */
#define CARD_NEAR 40    /* a code or expiry this close after a card is one */

typedef struct group {
    size_t start, len; /* digits at buf[start, start + len) */
    size_t sep_len;    /* separator bytes after the group (0 for the last) */
    char sep;          /* its first separator byte */
    int used;
} group;

typedef struct scan {
    char *b;
    size_t n;
    unsigned opts;
    redact_counts *counts;
    size_t found;
    size_t card_end; /* end of the last card, or (size_t)-1 */
} scan;

static const char *const kind_names[REDACT_NKINDS] = {"card", "cvv",   "expiry", "ssn",
                                                      "iban", "email", "phone"};

const char *redact_kind_name(int kind)
{
    return kind >= 0 && kind < REDACT_NKINDS ? kind_names[kind] : "unknown";
}

static int is_digit(unsigned char c)
{
    return (unsigned)(c - '0') < 10;
}

static int is_alpha(unsigned char c)
{
    return (unsigned)((c | 0x20) - 'a') < 26;
}

static int is_alnum(unsigned char c)
{
    return is_digit(c) || is_alpha(c);
}

static void found(scan *s, int kind)
{
    s->found++;
    if (s->counts)
        s->counts->n[kind]++;
}

/* Index of the next digit (or '@' when at != 0) at or after i, or n. */
static size_t next_trigger(const char *b, size_t i, size_t n, int at)
{
#if defined(__SSE2__)
    const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9),
                  atv = _mm_set1_epi8(at ? '@' : '0');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(b + i));
        __m128i d = _mm_sub_epi8(v, zero);
        __m128i m = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(d, nine), d), _mm_cmpeq_epi8(v, atv));
        int bits = _mm_movemask_epi8(m);
        if (bits)
            return i + (size_t)__builtin_ctz((unsigned)bits);
    }
#endif
    for (; i < n; i++)
        if (is_digit((unsigned char)b[i]) || (at && b[i] == '@'))
            return i;
    return n;
}

int redact_luhn_ok(const char *d, size_t n)
{
    unsigned sum = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned v = (unsigned)(d[n - 1 - k] - '0');
        if (k & 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return n > 0 && sum % 10 == 0;
}

static unsigned prefix(const char *d, int k)
{
    unsigned v = 0;
    for (int i = 0; i < k; i++)
        v = v * 10 + (unsigned)(d[i] - '0');
    return v;
}

/* Issuer ranges by first digits and length (ISO/IEC 7812 IINs of the
 * networks in use: Visa, Mastercard, Amex, Discover, Diners, JCB,
 * UnionPay, Maestro, Mir, RuPay, Troy). */
static int issuer_ok(const char *d, size_t n)
{
    unsigned p2 = prefix(d, 2), p4 = prefix(d, 4);
    switch (d[0]) {
    case '2':
        return (p4 >= 2221 && p4 <= 2720 && n == 16) || (p4 >= 2200 && p4 <= 2204 && n >= 16);
    case '3':
        if (p2 == 34 || p2 == 37)
            return n == 15;
        if (p2 == 35)
            return p4 >= 3528 && p4 <= 3589 && n >= 16;
        return (p2 == 30 || p2 == 36 || p2 == 38 || p2 == 39) && n >= 14;
    case '4':
        return n == 13 || n == 16 || n == 19;
    case '5':
        return (p2 >= 51 && p2 <= 55) ? n == 16 : 1;
    case '6':
        return 1;
    case '8':
        return p2 == 81 && n >= 16;
    case '9':
        return p4 == 9792 && n == 16;
    default:
        return 0;
    }
}

int redact_card_ok(const char *d, size_t n)
{
    return n >= CARD_MIN && n <= CARD_MAX && issuer_ok(d, n) && redact_luhn_ok(d, n);
}

/* Separator bytes between two digit groups: up to MAX_SEP of space, tab,
 * dash, dot, CR, LF, and '>' after a line break (a quoted reply). With
 * phones on, parentheses too. Returns the run's length if a digit follows,
 * else 0. */
static size_t sep_run(const scan *s, size_t i)
{
    size_t k = 0;
    int nl = 0;
    while (i + k < s->n && k < MAX_SEP) {
        unsigned char c = (unsigned char)s->b[i + k];
        if (c == ' ' || c == '\t' || c == '-' || c == '.')
            ;
        else if (c == '\r' || c == '\n')
            nl = 1;
        else if (c == '>' && nl)
            ;
        else if ((c == '(' || c == ')') && (s->opts & REDACT_PHONE))
            ;
        else
            break;
        k++;
    }
    return k && i + k < s->n && is_digit((unsigned char)s->b[i + k]) ? k : 0;
}

static size_t read_groups(const scan *s, size_t i, group *g, size_t *ng)
{
    size_t k = 0;
    for (;;) {
        size_t start = i;
        while (i < s->n && is_digit((unsigned char)s->b[i]))
            i++;
        g[k] = (group){.start = start, .len = i - start};
        if (++k == MAX_GROUPS)
            break;
        size_t sl = sep_run(s, i);
        if (!sl)
            break;
        g[k - 1].sep_len = sl;
        g[k - 1].sep = s->b[i];
        i += sl;
    }
    *ng = k;
    return g[k - 1].start + g[k - 1].len;
}

static void mask_digits(scan *s, size_t from, size_t to, size_t keep_last)
{
    size_t total = 0, seen = 0;
    for (size_t i = from; i < to; i++)
        total += is_digit((unsigned char)s->b[i]);
    for (size_t i = from; i < to; i++)
        if (is_digit((unsigned char)s->b[i]) && seen++ + keep_last < total)
            s->b[i] = '*';
}

/* Case-insensitive: does one of words start a word in the CONTEXT_BACK
 * bytes before pos? The window ends with a space, so "exp " also matches
 * "exp" right before the number. */
static int word_before(const scan *s, size_t pos, const char *const *words)
{
    char low[CONTEXT_BACK + 2];
    size_t from = pos > CONTEXT_BACK ? pos - CONTEXT_BACK : 0, k = 0;
    for (size_t i = from; i < pos; i++) {
        unsigned char c = (unsigned char)s->b[i];
        low[k++] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : (c ? c : ' '));
    }
    low[k++] = ' ';
    low[k] = 0;
    for (; *words; words++) {
        for (const char *m = low; (m = strstr(m, *words)) != NULL; m++)
            if (m == low ? from == 0 || !is_alpha((unsigned char)s->b[from - 1])
                         : !is_alpha((unsigned char)m[-1]))
                return 1;
    }
    return 0;
}

static const char *const cvv_words[] = {"cvv", "cvc", "csc", "cid ", "cid:", "security code",
                                        "sec code", "card code", "verification code", NULL};
static const char *const exp_words[] = {"exp ",       "exp:",          "exp.",      "exp/",
                                        "expir",      "valid thru",    "valid through",
                                        "good thru",  "valid until",   "valid to ", NULL};
static const char *const ssn_words[] = {"ssn", "social security", "ss#", "ss no", "soc sec",
                                        NULL};

/* --- IBAN ---------------------------------------------------------------- */

static const struct {
    char cc[3];
    unsigned char len;
} iban_lengths[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
    {"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22},
    {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20},
    {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22},
    {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28},
    {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30},
    {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21},
    {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20}, {"MR", 27},
    {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
    {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33},
    {"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27},
    {"SO", 23}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29},
    {"VA", 22}, {"VG", 24}, {"XK", 20},
};

static size_t iban_length(char a, char b)
{
    a = (char)(a & ~0x20);
    b = (char)(b & ~0x20);
    for (size_t i = 0; i < sizeof iban_lengths / sizeof *iban_lengths; i++)
        if (iban_lengths[i].cc[0] == a && iban_lengths[i].cc[1] == b)
            return iban_lengths[i].len;
    return 0;
}

/* An IBAN whose country code starts at a. Returns its end, or 0. */
static size_t try_iban(scan *s, size_t a)
{
    char v[34];
    size_t len = iban_length(s->b[a], s->b[a + 1]), k = 0, i = a;
    if (!len || a + 3 >= s->n || !is_digit((unsigned char)s->b[a + 3]))
        return 0;
    while (k < len && i < s->n) {
        unsigned char c = (unsigned char)s->b[i];
        if (is_alnum(c)) {
            v[k++] = (char)(is_alpha(c) ? c & ~0x20 : c);
            i++;
        } else if (c == ' ' && k >= 2 && i + 1 < s->n && is_alnum((unsigned char)s->b[i + 1])) {
            i++;
        } else {
            break;
        }
    }
    if (k != len || (i < s->n && is_alnum((unsigned char)s->b[i])))
        return 0;
    unsigned rem = 0;
    for (size_t j = 0; j < len; j++) {
        unsigned char c = (unsigned char)v[(j + 4) % len];
        if (is_digit(c))
            rem = (rem * 10 + (c - '0')) % 97;
        else
            rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
    }
    if (rem != 1)
        return 0;
    /* Keep the country code and the last four. */
    for (size_t j = a + 2, seen = 2; j < i; j++)
        if (is_alnum((unsigned char)s->b[j]) && seen++ < len - 4)
            s->b[j] = '*';
    found(s, REDACT_IBAN);
    return i;
}

/* --- cards, SSNs, codes, dates, phones over one sequence ----------------- */

static size_t digits_of(const scan *s, const group *g, size_t from, size_t to, char *out)
{
    size_t k = 0;
    for (size_t j = from; j <= to; j++) {
        memcpy(out + k, s->b + g[j].start, g[j].len);
        k += g[j].len;
    }
    return k;
}

/* Cards are printed in groups of four or more first, then three or more
 * but the last (4-4-4-4, 4-6-5, 8-8, 4-4-4-4-3, 4-4-4-1), or digit by digit as a transcript
 * spells them. A window that continues a longer number joined the same
 * way (a tracking code's later groups) is not a card. */
static int card_layout(const group *g, size_t a, size_t e)
{
    int singles = 1, ok = g[a].len >= 4 || a == e;
    for (size_t j = a; j <= e; j++) {
        singles &= g[j].len == 1;
        ok &= j == a || j == e || g[j].len >= 3;
    }
    if (a > 0 && e > a && g[a - 1].len >= 4 && g[a - 1].sep_len == g[a].sep_len &&
        g[a - 1].sep == g[a].sep)
        return 0;
    return ok || singles;
}

static void find_cards(scan *s, group *g, size_t ng)
{
    char d[CARD_MAX + 8];
    for (size_t a = 0; a < ng; a++) {
        size_t total = 0, best = (size_t)-1;
        for (size_t e = a; e < ng; e++) {
            total += g[e].len;
            if (total > CARD_MAX)
                break;
            if (total >= CARD_MIN && card_layout(g, a, e)) {
                digits_of(s, g, a, e, d);
                if (redact_card_ok(d, total))
                    best = e;
            }
        }
        if (best == (size_t)-1)
            continue;
        mask_digits(s, g[a].start, g[best].start + g[best].len, 4);
        for (size_t e = a; e <= best; e++)
            g[e].used = 1;
        s->card_end = g[best].start + g[best].len;
        found(s, REDACT_CARD);
        a = best;
    }
}

static unsigned group_value(const scan *s, const group *g)
{
    return prefix(s->b + g->start, (int)g->len);
}

static void find_ssns(scan *s, group *g, size_t ng)
{
    for (size_t a = 0; a < ng; a++) {
        if (g[a].used)
            continue;
        if (g[a].len == 9 && word_before(s, g[a].start, ssn_words)) {
            unsigned area = prefix(s->b + g[a].start, 3);
            if (area && area != 666 && area < 900) {
                mask_digits(s, g[a].start, g[a].start + 9, 4);
                g[a].used = 1;
                found(s, REDACT_SSN);
            }
            continue;
        }
        if (a + 2 >= ng || g[a].len != 3 || g[a + 1].len != 2 || g[a + 2].len != 4 ||
            g[a + 1].used || g[a + 2].used)
            continue;
        char sep = g[a].sep;
        if (g[a].sep_len != 1 || g[a + 1].sep_len != 1 || g[a + 1].sep != sep ||
            (sep != '-' && sep != ' '))
            continue;
        /* Not a piece of a longer number joined the same way. */
        if ((a > 0 && g[a - 1].sep == sep) || (a + 3 < ng && g[a + 2].sep == sep))
            continue;
        unsigned area = group_value(s, &g[a]), grp = group_value(s, &g[a + 1]),
                 serial = group_value(s, &g[a + 2]);
        if (!area || area == 666 || area >= 900 || !grp || !serial)
            continue;
        mask_digits(s, g[a].start, g[a + 2].start + 4, 4);
        g[a].used = g[a + 1].used = g[a + 2].used = 1;
        found(s, REDACT_SSN);
        a += 2;
    }
}

static int near_card(const scan *s, size_t pos)
{
    return s->card_end != (size_t)-1 && pos >= s->card_end && pos - s->card_end <= CARD_NEAR;
}

/* MM/YY, MM/YYYY, MM-YY, MM-YYYY at group a, in context. Returns the end of
 * the date, or 0. */
static size_t find_expiry(scan *s, group *g, size_t ng, size_t a)
{
    size_t mstart = g[a].start, mend = mstart + g[a].len, yend = 0;
    unsigned month = group_value(s, &g[a]);
    if (g[a].len > 2 || month < 1 || month > 12)
        return 0;
    if (mend + 1 < s->n && s->b[mend] == '/') {
        size_t y = mend + 1, k = 0;
        while (y + k < s->n && is_digit((unsigned char)s->b[y + k]))
            k++;
        if ((k != 2 && k != 4) || (y + k < s->n && s->b[y + k] == '/'))
            return 0;
        yend = y + k;
    } else if (a + 1 < ng && !g[a + 1].used && g[a].sep == '-' && g[a].sep_len == 1 &&
               (g[a + 1].len == 2 || g[a + 1].len == 4) &&
               !(a + 2 < ng && g[a + 1].sep == '-')) {
        yend = g[a + 1].start + g[a + 1].len;
        g[a + 1].used = 1;
    } else {
        return 0;
    }
    if (!near_card(s, mstart) && !word_before(s, mstart, exp_words))
        return 0;
    mask_digits(s, mstart, yend, 0);
    g[a].used = 1;
    found(s, REDACT_EXPIRY);
    return yend;
}

static void find_codes(scan *s, group *g, size_t ng, size_t *end)
{
    for (size_t a = 0; a < ng; a++) {
        if (g[a].used)
            continue;
        size_t e = find_expiry(s, g, ng, a);
        if (e) {
            if (e > *end)
                *end = e;
            continue;
        }
        if (g[a].len < 3 || g[a].len > 4)
            continue;
        /* A code is not joined to other digits by a dash or dot (as a piece
         * of a phone or reference number would be), except to a card. */
        int joined_before = a > 0 && !g[a - 1].used && (g[a - 1].sep == '-' || g[a - 1].sep == '.');
        int joined_after = a + 1 < ng && (g[a].sep == '-' || g[a].sep == '.');
        if (joined_before || joined_after)
            continue;
        if (!near_card(s, g[a].start) && !word_before(s, g[a].start, cvv_words))
            continue;
        mask_digits(s, g[a].start, g[a].start + g[a].len, 0);
        g[a].used = 1;
        found(s, REDACT_CVV);
    }
}

static int looks_like_date(const scan *s, const group *g, size_t ng)
{
    return ng >= 3 && g[0].len == 4 && g[1].len == 2 && g[2].len == 2 &&
           group_value(s, &g[1]) <= 12 && group_value(s, &g[2]) <= 31;
}

static void find_phones(scan *s, group *g, size_t ng)
{
    if (looks_like_date(s, g, ng))
        return;
    for (size_t a = 0; a < ng;) {
        size_t e = a, total = 0;
        if (g[a].used) {
            a++;
            continue;
        }
        while (e < ng && !g[e].used)
            total += g[e++].len;
        if (total >= 10 && total <= 15) {
            mask_digits(s, g[a].start, g[e - 1].start + g[e - 1].len, 4);
            found(s, REDACT_PHONE_NUMBER);
        }
        a = e;
    }
}

static size_t at_digit(scan *s, size_t p)
{
    group g[MAX_GROUPS];
    size_t ng, end;
    /* Two letters just before, on a word start: maybe an IBAN. */
    if (p >= 2 && is_alpha((unsigned char)s->b[p - 2]) && is_alpha((unsigned char)s->b[p - 1]) &&
        (p == 2 || !is_alnum((unsigned char)s->b[p - 3]))) {
        size_t e = try_iban(s, p - 2);
        if (e)
            return e;
    }
    end = read_groups(s, p, g, &ng);
    find_cards(s, g, ng);
    find_ssns(s, g, ng);
    find_codes(s, g, ng, &end);
    if (s->opts & REDACT_PHONE)
        find_phones(s, g, ng);
    return end;
}

/* --- email --------------------------------------------------------------- */

static int local_char(unsigned char c)
{
    return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static size_t at_sign(scan *s, size_t p)
{
    size_t a = p, e = p + 1, dots = 0, label = 0, tld_alpha = 1;
    while (a > 0 && p - a < 64 && local_char((unsigned char)s->b[a - 1]))
        a--;
    while (e < s->n && (is_alnum((unsigned char)s->b[e]) || s->b[e] == '-' ||
                        (s->b[e] == '.' && label > 0 && e + 1 < s->n &&
                         is_alnum((unsigned char)s->b[e + 1])))) {
        if (s->b[e] == '.') {
            dots++;
            label = 0;
            tld_alpha = 1;
        } else {
            label++;
            tld_alpha &= is_alpha((unsigned char)s->b[e]);
        }
        e++;
    }
    if (a == p || !dots || label < 2 || !tld_alpha)
        return p + 1;
    for (size_t i = a + 1; i < p; i++)
        s->b[i] = '*';
    found(s, REDACT_EMAIL_ADDR);
    return e;
}

size_t redact_buf(char *buf, size_t len, unsigned opts, redact_counts *counts)
{
    scan s = {.b = buf, .n = len, .opts = opts, .counts = counts, .card_end = (size_t)-1};
    int at = (opts & REDACT_EMAIL) != 0;
    size_t i = 0;
    while ((i = next_trigger(buf, i, len, at)) < len)
        i = buf[i] == '@' ? at_sign(&s, i) : at_digit(&s, i);
    return s.found;
}

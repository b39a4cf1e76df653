/* test_redact.c - src/core/redact: cards in every way they are written
 * (100,000 generated, none may be missed), codes and dates in context,
 * SSNs, IBANs, emails and phones by policy, what must be left alone, and
 * hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/redact.h"

#include "../support/cardgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Redacts a copy of in with opts; returns a static buffer. */
static const char *red(const char *in, unsigned opts, redact_counts *c)
{
    static char buf[4096];
    size_t n = strlen(in);
    assert_true(n < sizeof buf);
    memcpy(buf, in, n + 1);
    redact_counts local = {0};
    redact_buf(buf, n, opts, c ? c : &local);
    assert_int_equal(strlen(buf), n);
    return buf;
}

static void test_examples(void **state)
{
    (void)state;
    redact_counts c = {0};
    assert_string_equal(red("4111 1111 1111 1111", 0, &c), "**** **** **** 1111");
    assert_int_equal(c.n[REDACT_CARD], 1);
    assert_string_equal(red("card 4111-1111-1111-1111.", 0, NULL), "card ****-****-****-1111.");
    assert_string_equal(red("amex 3782 822463 10005 ok", 0, NULL), "amex **** ****** *0005 ok");
    assert_string_equal(red("4111111111111111", 0, NULL), "************1111");
    assert_string_equal(red("my card is 4111 1111\n1111 1111 thanks", 0, NULL),
                        "my card is **** ****\n**** 1111 thanks");
    assert_string_equal(red("> 5555 5555\r\n> 5555 4444", 0, NULL), "> **** ****\r\n> **** 4444");
    /* Luhn-invalid, unknown issuer, too long: not cards. */
    assert_string_equal(red("4111 1111 1111 1112", 0, NULL), "4111 1111 1111 1112");
    assert_string_equal(red("1111 1111 1111 1117", 0, NULL), "1111 1111 1111 1117");
    assert_string_equal(red("id 41111111111111110000", 0, NULL), "id 41111111111111110000");
    /* A card after another number in the same run of groups. */
    assert_string_equal(red("ref 12 4111 1111 1111 1111", 0, NULL), "ref 12 **** **** **** 1111");
    assert_true(redact_luhn_ok("79927398713", 11));
    assert_false(redact_luhn_ok("79927398710", 11));
    assert_true(redact_card_ok("4111111111111111", 16));
    assert_false(redact_card_ok("411111111111111", 15));
}

static void test_codes_and_dates(void **state)
{
    (void)state;
    redact_counts c = {0};
    assert_string_equal(red("4111 1111 1111 1111 exp 12/27 cvv 123", 0, &c),
                        "**** **** **** 1111 exp **/** cvv ***");
    assert_int_equal(c.n[REDACT_CARD], 1);
    assert_int_equal(c.n[REDACT_EXPIRY], 1);
    assert_int_equal(c.n[REDACT_CVV], 1);
    assert_string_equal(red("The CVV2 is 987.", 0, NULL), "The CVV2 is ***.");
    assert_string_equal(red("security code: 4321", 0, NULL), "security code: ****");
    assert_string_equal(red("Expires 03/2029", 0, NULL), "Expires **/****");
    assert_string_equal(red("valid thru 11-28", 0, NULL), "valid thru **-**");
    assert_string_equal(red("4111111111111111 123", 0, NULL), "************1111 ***");
    /* Without card context these are ordinary numbers and dates. */
    assert_string_equal(red("incident 4521 on 12/25", 0, NULL), "incident 4521 on 12/25");
    assert_string_equal(red("we expect 3 boxes by 12/25/2026", 0, NULL),
                        "we expect 3 boxes by 12/25/2026");
    assert_string_equal(red("call 555-123-4567 re cvv", 0, NULL), "call 555-123-4567 re cvv");
}

static void test_ssn_iban(void **state)
{
    (void)state;
    redact_counts c = {0};
    assert_string_equal(red("SSN 123-45-6789.", 0, &c), "SSN ***-**-6789.");
    assert_string_equal(red("it is 123 45 6789", 0, &c), "it is *** ** 6789");
    assert_string_equal(red("social security number 123456789", 0, &c),
                        "social security number *****6789");
    assert_int_equal(c.n[REDACT_SSN], 3);
    /* Invalid areas, groups, serials; a bare number without the word. */
    assert_string_equal(red("666-12-3456, 000-12-3456, 900-12-3456, 123-00-4567, 123-45-0000", 0, NULL),
                        "666-12-3456, 000-12-3456, 900-12-3456, 123-00-4567, 123-45-0000");
    assert_string_equal(red("order 123456789", 0, NULL), "order 123456789");
    assert_string_equal(red("part 123-45-6789-1", 0, NULL), "part 123-45-6789-1");

    assert_string_equal(red("IBAN DE89 3704 0044 0532 0130 00, thanks", 0, &c),
                        "IBAN DE** **** **** **** **30 00, thanks");
    assert_string_equal(red("GB82WEST12345698765432", 0, &c), "GB****************5432");
    assert_string_equal(red("(gb82 west 1234 5698 7654 32)", 0, &c),
                        "(gb** **** **** **** **54 32)");
    assert_int_equal(c.n[REDACT_IBAN], 3);
    /* Wrong check digits, wrong length, unknown country. */
    assert_string_equal(red("DE88 3704 0044 0532 0130 00", 0, NULL), "DE88 3704 0044 0532 0130 00");
    assert_string_equal(red("DE89 3704 0044 0532 0130 0", 0, NULL), "DE89 3704 0044 0532 0130 0");
    assert_string_equal(red("QQ89 3704 0044 0532 0130 00", 0, NULL), "QQ89 3704 0044 0532 0130 00");
}

static void test_policy(void **state)
{
    (void)state;
    redact_counts c = {0};
    const char *t = "mail jane.doe99@example.co.uk or call +1 (555) 123-4567 today";
    assert_string_equal(red(t, 0, &c), t);
    assert_string_equal(red(t, REDACT_EMAIL, &c),
                        "mail j*********@example.co.uk or call +1 (555) 123-4567 today");
    assert_string_equal(red(t, REDACT_EMAIL | REDACT_PHONE, &c),
                        "mail j*********@example.co.uk or call +* (***) ***-4567 today");
    assert_int_equal(c.n[REDACT_EMAIL_ADDR], 2);
    assert_int_equal(c.n[REDACT_PHONE_NUMBER], 1);
    /* Not addresses; dates are not phones. */
    assert_string_equal(red("a @ b, x@y, me@host", REDACT_EMAIL, NULL), "a @ b, x@y, me@host");
    assert_string_equal(red("at 2026-11-23 10:30", REDACT_PHONE, NULL), "at 2026-11-23 10:30");
    assert_string_equal(red("kind names", 0, NULL), "kind names");
    assert_string_equal(redact_kind_name(REDACT_CARD), "card");
    assert_string_equal(redact_kind_name(REDACT_PHONE_NUMBER), "phone");
    assert_string_equal(redact_kind_name(99), "unknown");
}

/* 100,000 valid cards from 16 issuer ranges, written in 12 ways inside
 * text: every one is masked down to its last four digits. */
static void test_generated_cards(void **state)
{
    (void)state;
    static const char *const around[][2] = {
        {"", ""}, {"my card is ", " thanks"}, {"Card: ", "."}, {"number ", ", exp soon"},
        {"pls charge card#", "!"}, {"\"", "\""}, {"Hi,\n\n", "\n\n-- Sam"},
    };
    cg_rng r = {42};
    char d[24], f[96], text[256];
    unsigned misses = 0, per_format[CG_NFORMATS] = {0};
    for (int i = 0; i < 100000; i++) {
        size_t n = cg_card(&r, d);
        int fmt = i % CG_NFORMATS, a = (int)cg_below(&r, sizeof around / sizeof *around);
        cg_format(d, n, fmt, f);
        int len = snprintf(text, sizeof text, "%s%s%s", around[a][0], f, around[a][1]);
        redact_counts c = {0};
        redact_buf(text, (size_t)len, 0, &c);
        /* Digits left: exactly the last four, in order. */
        char left[24];
        size_t k = 0;
        for (int j = 0; j < len && k < sizeof left - 1; j++)
            if (text[j] >= '0' && text[j] <= '9')
                left[k++] = text[j];
        left[k] = 0;
        if (c.n[REDACT_CARD] != 1 || strcmp(left, d + n - 4) != 0) {
            if (misses++ < 5)
                print_message("missed %s (%s): %s\n", d, cg_format_names[fmt], text);
            per_format[fmt]++;
        }
    }
    assert_int_equal(misses, 0);
}

/* Digit strings that are not cards: the share masked is reported and
 * bounded (a random 16-digit order number passes Luhn and an issuer range
 * about one time in thirty; nothing else should be touched). */
static void test_not_cards(void **state)
{
    (void)state;
    cg_rng r = {7};
    char text[128];
    unsigned flagged[CG_NOTCARD_KINDS] = {0}, total = 0;
    const int per_kind = 20000;
    for (int k = 0; k < CG_NOTCARD_KINDS; k++) {
        for (int i = 0; i < per_kind; i++) {
            size_t n = cg_notcard(&r, k, text, sizeof text);
            flagged[k] += redact_buf(text, n, 0, NULL) > 0;
        }
        total += flagged[k];
        print_message("not-card %-10s false positives %.3f%%\n", cg_notcard_names[k],
                      100.0 * flagged[k] / per_kind);
    }
    assert_true(flagged[1] == 0 && flagged[2] == 0 && flagged[3] == 0 && flagged[4] == 0 &&
                flagged[5] == 0);
    assert_true(flagged[0] < per_kind / 30);
    print_message("not-card overall false positives %.3f%%\n",
                  100.0 * total / (per_kind * CG_NOTCARD_KINDS));
}

/* Random bytes, digits and separators: no crash, no read or write out of
 * bounds (the sanitizer build checks), length unchanged, and idempotent. */
static void test_hostile(void **state)
{
    (void)state;
    cg_rng r = {99};
    static const char alphabet[] = "0123456789 -.\t\r\n>@()+/abcXYZ\0\xff\xc3";
    for (int i = 0; i < 20000; i++) {
        size_t n = cg_below(&r, 200);
        char *b = malloc(n + 1), *again = malloc(n + 1);
        for (size_t j = 0; j < n; j++)
            b[j] = (i & 1) ? alphabet[cg_below(&r, sizeof alphabet - 1)] : (char)cg_next(&r);
        redact_buf(b, n, REDACT_EMAIL | REDACT_PHONE, NULL);
        memcpy(again, b, n);
        redact_buf(again, n, REDACT_EMAIL | REDACT_PHONE, NULL);
        assert_memory_equal(b, again, n);
        free(b);
        free(again);
    }
    /* One long number-like run. */
    size_t big = 1 << 20;
    char *b = malloc(big);
    for (size_t j = 0; j < big; j++)
        b[j] = (j % 5 == 4) ? ' ' : (char)('0' + j % 10);
    redact_buf(b, big, REDACT_PHONE, NULL);
    free(b);
    assert_int_equal(redact_buf(NULL, 0, 0, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),       cmocka_unit_test(test_codes_and_dates),
        cmocka_unit_test(test_ssn_iban),       cmocka_unit_test(test_policy),
        cmocka_unit_test(test_generated_cards), cmocka_unit_test(test_not_cards),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_tz.c - src/core/tz against hand-checked offsets and day starts:
 * daylight-saving changes north and south, half-hour zones, far-future
 * dates beyond the zone file's table (POSIX rule), a skipped midnight,
 * civil-date arithmetic, and hostile names and files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/cd_err.h"
#include "core/tz.h"

#include <string.h>

static const tz *zone(const char *name)
{
    const tz *z = NULL;
    assert_int_equal(tz_get(name, &z), 0);
    assert_non_null(z);
    return z;
}

static void test_offsets(void **state)
{
    (void)state;
    static const struct {
        const char *zone;
        int64_t t;
        int32_t off;
    } cases[] = {
        {"UTC", 1777957200, 0},
        {"America/New_York", 1772953199, -18000}, /* 2026-03-08 01:59:59 EST */
        {"America/New_York", 1772953200, -14400}, /* 03:00 EDT */
        {"America/New_York", 1793512799, -14400}, /* 2026-11-01 01:59:59 EDT */
        {"America/New_York", 1793512800, -18000}, /* 01:00 EST again */
        {"America/New_York", 4118126400, -14400}, /* 2100-07-01: the POSIX rule */
        {"America/New_York", 4103654400, -18000}, /* 2100-01-15 */
        {"Pacific/Auckland", 1768435200, 46800},  /* January: NZDT */
        {"Pacific/Auckland", 1784073600, 43200},  /* July: NZST */
        {"Pacific/Auckland", 4103654400, 46800},  /* 2100, southern rule across the year */
        {"Pacific/Auckland", 4119292800, 43200},
        {"Australia/Lord_Howe", 1768435200, 39600}, /* half-hour daylight saving */
        {"Australia/Lord_Howe", 1784073600, 37800},
        {"Asia/Kolkata", 1767225600, 19800},
        {"Europe/London", 1774746000, 3600},
        {"America/Santiago", 1788667199, -14400},
        {"America/Santiago", 1788667200, -10800},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int32_t got = tz_offset(zone(cases[i].zone), cases[i].t);
        if (got != cases[i].off)
            print_message("%s at %lld: %d, want %d\n", cases[i].zone, (long long)cases[i].t, got,
                          cases[i].off);
        assert_int_equal(got, cases[i].off);
    }
}

static void test_day_start(void **state)
{
    (void)state;
    static const struct {
        const char *zone;
        int64_t t, start;
    } cases[] = {
        {"UTC", 1777957200, 1777939200},
        {"America/New_York", 1772971200, 1772946000}, /* the day clocks spring forward */
        {"Pacific/Auckland", 1768435200, 1768388400}, /* the day before, in UTC */
        {"America/Santiago", 1788706800, 1788667200}, /* midnight skipped: starts at 01:00 */
        {"Pacific/Auckland", 4103654400, 4103607600},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const tz *z = zone(cases[i].zone);
        assert_int_equal(tz_day_start_ms(z, cases[i].t * 1000 + 123), cases[i].start * 1000);
        /* Every instant of the day maps to the same start. */
        assert_int_equal(tz_day_start_ms(z, cases[i].start * 1000), cases[i].start * 1000);
        assert_int_equal(tz_day_start_ms(z, cases[i].start * 1000 - 1) < cases[i].start * 1000, 1);
    }
}

static void test_civil(void **state)
{
    (void)state;
    assert_int_equal(tz_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(tz_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(tz_days_from_civil(1969, 12, 31), -1);
    for (int64_t d = -800000; d < 800000; d += 997) {
        int64_t y;
        unsigned m, dd;
        tz_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(tz_days_from_civil(y, m, dd), d);
    }
}

static void test_hostile(void **state)
{
    (void)state;
    const tz *z = NULL;
    assert_int_equal(tz_get("../../etc/passwd", &z), CD_EINVAL);
    assert_int_equal(tz_get("/etc/passwd", &z), CD_EINVAL);
    assert_int_equal(tz_get("", &z), CD_EINVAL);
    assert_int_equal(tz_get("Europe/Berlin;rm", &z), CD_EINVAL);
    assert_int_equal(tz_get("Nowhere/Atlantis", &z), CD_ENOTFOUND);
    assert_int_equal(tz_get("zone.tab", &z), CD_EINVAL); /* no zone name has a dot */
    assert_int_equal(tz_get("America", &z), CD_ENOTFOUND); /* a directory */
    tz *p = NULL;
    unsigned char junk[200];
    memset(junk, 'x', sizeof junk);
    assert_int_equal(tz_parse(junk, sizeof junk, &p), CD_ENOTFOUND);
    memcpy(junk, "TZif2", 5);
    memset(junk + 20, 0xff, 24); /* absurd counts */
    assert_int_equal(tz_parse(junk, sizeof junk, &p), CD_ENOTFOUND);
    assert_int_equal(tz_parse(junk, 10, &p), CD_ENOTFOUND);
    /* The same zone twice is the same object. */
    const tz *a = zone("Europe/Paris"), *b = zone("Europe/Paris");
    assert_ptr_equal(a, b);
}

static int64_t local(int64_t y, unsigned m, unsigned d, int hh, int mm)
{
    return tz_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60;
}

static void test_changes_and_local(void **state)
{
    (void)state;
    const tz *berlin = zone("Europe/Berlin"), *ny = zone("America/New_York");
    const tz *akl = zone("Pacific/Auckland"), *utc = zone("UTC");
    /* 2026-03-29 01:00Z clocks go 02:00 CET -> 03:00 CEST; 2026-10-25 01:00Z
     * they go 03:00 CEST -> 02:00 CET. */
    assert_int_equal(tz_next_change(berlin, 1774745999), 1774746000);
    assert_int_equal(tz_next_change(berlin, 1774746000), 1792890000);
    assert_int_equal(tz_prev_change(berlin, 1774746000), 1774746000);
    assert_int_equal(tz_prev_change(berlin, 1792889999), 1774746000);
    /* Beyond the file's table: the POSIX rule (second Sunday of March 2100,
     * 02:00 EST; first Sunday of April 2100, 03:00 NZDT). */
    assert_int_equal(tz_next_change(ny, 4103654400), 4108690800);
    assert_int_equal(tz_prev_change(ny, 4108690800 + 5), 4108690800);
    assert_int_equal(tz_next_change(akl, 4103654400), 4110444000);
    assert_int_equal(tz_next_change(utc, 0), INT64_MAX);
    assert_int_equal(tz_prev_change(utc, 0), INT64_MIN);
    /* Local to UTC: ordinary, skipped (maps to the change), repeated (first
     * occurrence), and just after each change. */
    assert_int_equal(tz_local_to_utc(berlin, local(2026, 3, 29, 1, 59)), 1774745940);
    assert_int_equal(tz_local_to_utc(berlin, local(2026, 3, 29, 2, 30)), 1774746000);
    assert_int_equal(tz_local_to_utc(berlin, local(2026, 3, 29, 3, 0)), 1774746000);
    assert_int_equal(tz_local_to_utc(berlin, local(2026, 3, 29, 3, 1)), 1774746060);
    assert_int_equal(tz_local_to_utc(berlin, local(2026, 10, 25, 2, 30)), 1792888200);
    assert_int_equal(tz_local_to_utc(berlin, local(2026, 10, 25, 3, 0)), 1792893600);
    assert_int_equal(tz_local_to_utc(utc, local(2026, 1, 1, 0, 0)), 1767225600);
    /* Santiago skips 2026-09-06 00:00-01:00: midnight is the change. */
    assert_int_equal(tz_local_to_utc(zone("America/Santiago"), local(2026, 9, 6, 0, 0)),
                     1788667200);
    /* Non-decreasing, and exact wherever the time exists once. */
    for (int64_t l = local(2026, 10, 24, 20, 0); l < local(2026, 10, 25, 6, 0); l += 600) {
        int64_t u = tz_local_to_utc(berlin, l);
        assert_true(tz_local_to_utc(berlin, l + 600) >= u);
        assert_true(u + tz_offset(berlin, u) >= l);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_day_start),
        cmocka_unit_test(test_civil),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_changes_and_local),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_calendar.c - src/core/calendar: business-time arithmetic against a
 * table of hand-computed cases (daylight-saving changes inside and outside
 * opening hours, north and south, half-hour changes, a skipped midnight,
 * holidays with and without hours, ranges past midnight, leap days, year
 * ends, far-future dates under the POSIX rule), parse errors, and
 * properties over random instants: additivity, add/between round trips,
 * monotonicity, and agreement with a minute-by-minute count.
 *
 * The expected values were worked out by hand (see each comment) and
 * checked with tests/unit/calendar_cases.py, which computes them with
 * Python's zoneinfo independently of calendar.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/calendar.h"
#include "core/cd_err.h"
#include "core/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WD "[[\"09:00\", \"17:00\"]]"
#define R15 "[[\"01:00\", \"05:00\"]]"
#define R02 "[[\"00:00\", \"02:00\"]]"
#define R13 "[[\"01:00\", \"03:00\"]]"
#define RN "[[\"22:00\", \"06:00\"]]"
#define RS "[[\"13:00\", \"17:30\"], [\"09:00\", \"12:00\"]]"
#define ALLDAYS(r)                                                                                 \
    "\"mon\": " r ", \"tue\": " r ", \"wed\": " r ", \"thu\": " r ", \"fri\": " r ", \"sat\": " r  \
    ", \"sun\": " r
#define WEEKDAYS(r) "\"mon\": " r ", \"tue\": " r ", \"wed\": " r ", \"thu\": " r ", \"fri\": " r

static const struct {
    const char *name, *json;
} CALS[] = {
    {"berlin", "{\"timezone\": \"Europe/Berlin\", \"hours\": {" WEEKDAYS(
                   WD) "}, "
                       "\"holidays\": [\"2026-12-25\", \"2026-12-26\", \"2027-01-01\", "
                       "{\"date\": \"2026-12-24\", \"hours\": [[\"09:00\", \"13:00\"]]}]}"},
    {"night", "{\"timezone\": \"Europe/Berlin\", \"hours\": {" ALLDAYS(R15) "}}"},
    {"ny247", "{\"timezone\": \"America/New_York\", \"hours\": \"24/7\", "
              "\"holidays\": [\"2026-07-04\"]}"},
    {"london_night", "{\"timezone\": \"Europe/London\", \"hours\": {" WEEKDAYS(RN) "}}"},
    {"santiago", "{\"timezone\": \"America/Santiago\", \"hours\": {" ALLDAYS(R02) "}}"},
    {"lordhowe", "{\"timezone\": \"Australia/Lord_Howe\", \"hours\": {" ALLDAYS(R13) "}}"},
    {"utc_leap",
     "{\"timezone\": \"UTC\", \"hours\": {" WEEKDAYS(WD) "}, "
                                                         "\"holidays\": [\"2028-02-29\"]}"},
    {"always", "\"24/7\""},
    {"split", "{\"timezone\": \"Europe/Berlin\", \"hours\": {" WEEKDAYS(
                  RS) ", "
                      "\"sat\": [[\"14:00\", \"10:00\"]]}}"},
    {"nyc", "{\"timezone\": \"America/New_York\", \"hours\": {" WEEKDAYS(WD) "}}"},
    {"berlin247", "{\"timezone\": \"Europe/Berlin\", \"hours\": \"24/7\"}"},
};
#define NCALS (sizeof CALS / sizeof *CALS)

static calendar *cals[NCALS];

static calendar *cal(const char *name)
{
    for (size_t i = 0; i < NCALS; i++)
        if (strcmp(CALS[i].name, name) == 0)
            return cals[i];
    fail_msg("no calendar %s", name);
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCALS; i++) {
        char err[200];
        int rc = calendar_parse(CALS[i].json, strlen(CALS[i].json), &cals[i], err, sizeof err);
        if (rc) {
            print_message("%s: %s\n", CALS[i].name, err);
            return -1;
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCALS; i++)
        calendar_free(cals[i]);
    return 0;
}

/* "2026-03-27T15:00:00Z" in epoch ms. */
static int64_t ms(const char *s)
{
    int y, mo, d, h, mi, se;
    assert_int_equal(sscanf(s, "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &se), 6);
    return (tz_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se) *
           1000;
}

enum { ADD, BETWEEN };

static void test_table(void **state)
{
    (void)state;
    static const struct {
        const char *cal;
        int op;
        const char *a;
        int64_t minutes;
        const char *b;      /* ADD: the expected instant; BETWEEN: the end */
        int64_t expect_min; /* BETWEEN: business minutes */
    } cases[] = {
        /* Fri 16:00 CET: 60 min to 17:00, the weekend, DST starts Sunday; Mon 09:00 CEST (07:00Z) +
           60 */
        {"berlin", ADD, "2026-03-27T15:00:00Z", 120, "2026-03-30T08:00:00Z", 0},
        /* Saturday, 0 minutes: the next opening, Monday 09:00 CEST */
        {"berlin", ADD, "2026-03-28T10:00:00Z", 0, "2026-03-30T07:00:00Z", 0},
        /* Mon 09:00 CEST + 480: ends at closing time the same day, not the next morning */
        {"berlin", ADD, "2026-03-30T07:00:00Z", 480, "2026-03-30T15:00:00Z", 0},
        /* at 17:00 CEST exactly (closed: ranges are [start, end)): Tuesday 09:00 */
        {"berlin", ADD, "2026-03-30T15:00:00Z", 0, "2026-03-31T07:00:00Z", 0},
        /* Wed 16:00 CET: 60 min, then Christmas Eve's own hours 09:00-13:00 (240) end at 13:00 CET
         */
        {"berlin", ADD, "2026-12-23T15:00:00Z", 300, "2026-12-24T12:00:00Z", 0},
        /* as above, 300 more: 25th and 26th holidays, Sunday; Mon 28th 09:00 CET + 300 = 14:00 CET
         */
        {"berlin", ADD, "2026-12-23T15:00:00Z", 600, "2026-12-28T13:00:00Z", 0},
        /* Fri 18th 480, 21st-23rd 3x480, 24th 240, 28th-31st 4x480, 1st holiday, Mon 4th 480 */
        {"berlin", BETWEEN, "2026-12-18T08:00:00Z", 0, "2027-01-04T16:00:00Z", 4560},
        /* year end: Thu 31st 13:00-17:00 CET 240, New Year holiday, Mon 4th 480 */
        {"berlin", BETWEEN, "2026-12-31T12:00:00Z", 0, "2027-01-05T00:00:00Z", 720},
        /* 10,000 min = 20 days + 400 min of 480 from Mon 2nd 09:00 CET; DST on the 29th; 21st
           working day is Mon 30th, 09:00 CEST + 400 = 15:40 CEST */
        {"berlin", ADD, "2026-03-02T08:00:00Z", 10000, "2026-03-30T13:40:00Z", 0},
        /* all of 2026: 261 weekdays x 480, minus 240 (24th) and 480 (25th); DST changes change
           nothing */
        {"berlin", BETWEEN, "2026-01-01T00:00:00Z", 0, "2027-01-01T00:00:00Z", 124560},
        /* 01:00-05:00 on the spring-forward day (02:00 CET -> 03:00 CEST): 3 real hours */
        {"night", BETWEEN, "2026-03-28T12:00:00Z", 0, "2026-03-29T12:00:00Z", 180},
        /* 01:00-05:00 on the fall-back day (03:00 CEST -> 02:00 CET): 5 real hours */
        {"night", BETWEEN, "2026-10-24T12:00:00Z", 0, "2026-10-25T12:00:00Z", 300},
        /* 01:00 CET + 180 ends at 05:00 CEST (03:00Z); next range 01:00 CEST (23:00Z) + 20 */
        {"night", ADD, "2026-03-29T00:00:00Z", 200, "2026-03-29T23:20:00Z", 0},
        /* 02:00 CEST + 150 real minutes, through the repeated hour: 02:30Z */
        {"night", ADD, "2026-10-25T00:00:00Z", 150, "2026-10-25T02:30:00Z", 0},
        /* 02:30 CEST: the range ends at 05:00 CET = 04:00Z, 210 min later; 200 fit */
        {"night", ADD, "2026-10-25T00:30:00Z", 200, "2026-10-25T03:50:00Z", 0},
        /* 24/7 in New York but July 4th (local day: 04:00Z to 04:00Z): 60 h - 24 h */
        {"ny247", BETWEEN, "2026-07-03T12:00:00Z", 0, "2026-07-06T00:00:00Z", 2160},
        /* 24/7 counts real time: the fall-back day has 25 h, but 00:00Z-00:00Z is 24 h */
        {"ny247", BETWEEN, "2026-11-01T00:00:00Z", 0, "2026-11-02T00:00:00Z", 1440},
        /* a whole day ends exactly at the holiday's local midnight */
        {"ny247", ADD, "2026-07-03T04:00:00Z", 1440, "2026-07-04T04:00:00Z", 0},
        /* on the holiday, 0 minutes: it opens at the next local midnight */
        {"ny247", ADD, "2026-07-04T10:00:00Z", 0, "2026-07-05T04:00:00Z", 0},
        /* Fri 22:00-06:00 runs into Saturday (480); Sat-Sun closed; Mon 00:00-06:00 would come from
           a Sunday range: none */
        {"london_night", BETWEEN, "2026-03-27T12:00:00Z", 0, "2026-03-30T12:00:00Z", 480},
        /* Fri 21:30 GMT: opens 22:00 + 60 */
        {"london_night", ADD, "2026-03-27T21:30:00Z", 60, "2026-03-27T23:00:00Z", 0},
        /* Fri night 480, then Mon 22:00 BST (21:00Z) + 120 */
        {"london_night", ADD, "2026-03-27T21:30:00Z", 600, "2026-03-30T23:00:00Z", 0},
        /* Santiago skips 2026-09-06 00:00-01:00: the range is 01:00-02:00 (-03), 60 min */
        {"santiago", BETWEEN, "2026-09-05T12:00:00Z", 0, "2026-09-06T12:00:00Z", 60},
        /* Santiago falls back at 2026-04-05 00:00 (-03) to 23:00 (-04): the range 00:00-02:00
           starts when the clock first shows 00:00 on the 5th (04:00Z) and lasts 2 h */
        {"santiago", BETWEEN, "2026-04-04T12:00:00Z", 0, "2026-04-05T12:00:00Z", 120},
        /* on the skipped midnight: opens at the change (04:00Z) + 30 */
        {"santiago", ADD, "2026-09-06T00:00:00Z", 30, "2026-09-06T04:30:00Z", 0},
        /* Lord Howe springs forward half an hour at 02:00: 01:00-03:00 is 90 min */
        {"lordhowe", BETWEEN, "2026-10-03T12:00:00Z", 0, "2026-10-04T12:00:00Z", 90},
        /* Lord Howe falls back half an hour at 02:00: 01:00-03:00 is 150 min */
        {"lordhowe", BETWEEN, "2026-04-04T12:00:00Z", 0, "2026-04-05T12:00:00Z", 150},
        /* Mon 28 Feb closing; Tue 29 Feb 2028 (leap day) a holiday; Wed 1 Mar 09:00 + 480 */
        {"utc_leap", ADD, "2028-02-28T17:00:00Z", 480, "2028-03-01T17:00:00Z", 0},
        /* Fri 25th, Mon 28th, (29th holiday), Wed 1st, Thu 2nd, Fri 3rd: 5 x 480 */
        {"utc_leap", BETWEEN, "2028-02-25T00:00:00Z", 0, "2028-03-04T00:00:00Z", 2400},
        /* "24/7": plain addition, 10,000 min = 6 d 22 h 40 min */
        {"always", ADD, "2026-01-01T00:00:00Z", 10000, "2026-01-07T22:40:00Z", 0},
        /* "24/7": real time through the DST change */
        {"always", BETWEEN, "2026-03-29T00:00:00Z", 0, "2026-03-30T00:00:00Z", 1440},
        /* 11:30 CEST: 30 min to 12:00, lunch, 13:00 CEST + 170 = 15:50 CEST */
        {"split", ADD, "2026-06-01T09:30:00Z", 200, "2026-06-01T13:50:00Z", 0},
        /* Fri 17:00 CEST: 30 min to 17:30; Sat 14:00-24:00 (a range written 14:00-10:00): 14:00 +
           270 */
        {"split", ADD, "2026-06-05T15:00:00Z", 300, "2026-06-06T16:30:00Z", 0},
        /* New York 09:00 EDT Thu 1 Oct + 10,000 min: 20 days + 400 min, through the fall-back on 1
           Nov: Thu 29 Oct 09:00 EDT + 400 = 15:40 EDT */
        {"nyc", ADD, "2026-10-01T13:00:00Z", 10000, "2026-10-29T19:40:00Z", 0},
        /* 100,000 min from New Year: 208 working days + 160 min, both DST changes in between */
        {"nyc", ADD, "2026-01-01T00:00:00Z", 100000, "2026-10-20T15:40:00Z", 0},
        /* year end in New York, no holidays: Fri 1 Jan 480, Mon 4 Jan 09:00-10:00 EST */
        {"nyc", BETWEEN, "2026-12-31T22:00:00Z", 0, "2027-01-04T15:00:00Z", 540},
        /* "hours": "24/7" in Berlin: the local day of the spring-forward change has 23 h */
        {"berlin247", BETWEEN, "2026-03-28T23:00:00Z", 0, "2026-03-29T22:00:00Z", 1380},
        /* ... and the fall-back day 25 h */
        {"berlin247", BETWEEN, "2026-10-24T22:00:00Z", 0, "2026-10-25T23:00:00Z", 1500},
        /* 2100, beyond the zone file (POSIX rule): 14 nights of 240, one 60 min shorter */
        {"night", BETWEEN, "2100-03-20T12:00:00Z", 0, "2100-04-03T12:00:00Z", 3300},
        /* October 2100: 14 nights, one 60 min longer */
        {"night", BETWEEN, "2100-10-20T12:00:00Z", 0, "2100-11-03T12:00:00Z", 3420},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const calendar *c = cal(cases[i].cal);
        int64_t a = ms(cases[i].a), b = ms(cases[i].b);
        if (cases[i].op == ADD) {
            int64_t got = calendar_add_business(c, a, cases[i].minutes);
            if (got != b)
                print_message("case %zu (%s): add %lld min: %lld, want %lld\n", i, cases[i].cal,
                              (long long)cases[i].minutes, (long long)got, (long long)b);
            assert_int_equal(got, b);
            /* The round trip: the span holds exactly those minutes. */
            assert_int_equal(calendar_business_between(c, a, got), cases[i].minutes * 60000);
        } else {
            int64_t got = calendar_business_between(c, a, b);
            if (got != cases[i].expect_min * 60000)
                print_message("case %zu (%s): between: %lld ms, want %lld min\n", i, cases[i].cal,
                              (long long)got, (long long)cases[i].expect_min);
            assert_int_equal(got, cases[i].expect_min * 60000);
        }
    }
}

static void test_open_close(void **state)
{
    (void)state;
    const calendar *ln = cal("london_night"), *ny = cal("ny247"), *b = cal("berlin");
    /* Friday 22:00 GMT to Saturday 06:00 is one period across midnight. */
    assert_false(calendar_is_open(ln, ms("2026-03-27T21:59:59Z")));
    assert_true(calendar_is_open(ln, ms("2026-03-27T22:00:00Z")));
    assert_true(calendar_is_open(ln, ms("2026-03-28T03:00:00Z")));
    assert_false(calendar_is_open(ln, ms("2026-03-28T06:00:00Z")));
    assert_int_equal(calendar_next_close(ln, ms("2026-03-27T23:00:00Z")),
                     ms("2026-03-28T06:00:00Z"));
    assert_int_equal(calendar_next_open(ln, ms("2026-03-28T07:00:00Z")),
                     ms("2026-03-30T21:00:00Z")); /* Monday 22:00 BST */
    /* 24/7 but July 4th: the period ends at the holiday's local midnight. */
    assert_int_equal(calendar_next_close(ny, ms("2026-06-01T00:00:00Z")),
                     ms("2026-07-04T04:00:00Z"));
    assert_int_equal(calendar_next_close(ny, ms("2026-07-05T04:00:00Z")), INT64_MAX);
    assert_int_equal(calendar_next_close(cal("always"), 0), INT64_MAX);
    /* Closed: next_close is the instant itself. */
    assert_int_equal(calendar_next_close(b, ms("2026-03-28T10:00:00Z")),
                     ms("2026-03-28T10:00:00Z"));
    assert_int_equal(calendar_next_close(b, ms("2026-12-24T09:00:00Z")),
                     ms("2026-12-24T12:00:00Z"));
    assert_true(calendar_is_open(cal("always"), 0));
    assert_true(calendar_is_always(cal("always")));
    assert_true(calendar_is_always(cal("berlin247"))); /* no holidays: always open */
    assert_false(calendar_is_always(cal("ny247")));
    assert_int_equal(calendar_week_ms(b), 5 * 8 * 3600000LL);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json, *err;
    } cases[] = {
        {"", "calendar: invalid JSON"},
        {"\"24/6\"", "calendar: expected an object"},
        {"[]", "calendar: expected an object"},
        {"{\"hours\": {}}", "timezone: required"},
        {"{\"timezone\": \"Mars/Olympus\", \"hours\": {}}", "timezone: \"Mars/Olympus\" is not"},
        {"{\"timezone\": \"../etc\", \"hours\": {}}", "timezone: \"../etc\" is not"},
        {"{\"timezone\": \"UTC\"}", "hours: required"},
        {"{\"timezone\": \"UTC\", \"hours\": 7}", "hours: required"},
        {"{\"timezone\": \"UTC\", \"hours\": {\"monday\": []}}", "hours.monday: not a weekday"},
        {"{\"timezone\": \"UTC\", \"hours\": {\"mon\": [[\"9:00\", \"17:00\"]]}}",
         "hours.mon[0][0]: \"9:00\" is not a time HH:MM"},
        {"{\"timezone\": \"UTC\", \"hours\": {\"tue\": [[\"09:00\", \"17:00\"], "
         "[\"10:00\", \"24:01\"]]}}",
         "hours.tue[1][1]: \"24:01\" is not a time"},
        {"{\"timezone\": \"UTC\", \"hours\": {\"mon\": [[\"09:00\", \"09:00\"]]}}",
         "hours.mon[0]: empty range"},
        {"{\"timezone\": \"UTC\", \"hours\": {\"mon\": [[\"24:00\", \"09:00\"]]}}",
         "hours.mon[0][0]: a range cannot start at 24:00"},
        {"{\"timezone\": \"UTC\", \"hours\": {\"mon\": [\"09:00\", \"17:00\"]}}",
         "hours.mon[0]: expected"},
        {"{\"timezone\": \"UTC\", \"hours\": {\"mon\": [[\"09:00\", \"12:00\"], "
         "[\"11:00\", \"13:00\"]]}}",
         "hours.mon: ranges 09:00-12:00 and 11:00-13:00 overlap"},
        /* Monday's night runs into Tuesday morning, which opens at 05:00. */
        {"{\"timezone\": \"UTC\", \"hours\": {\"mon\": [[\"22:00\", \"06:00\"]], "
         "\"tue\": [[\"05:00\", \"12:00\"]]}}",
         "hours.tue: ranges 00:00-06:00 and 05:00-12:00 overlap"},
        {"{\"timezone\": \"UTC\", \"hours\": {}, \"holidays\": \"2026-12-25\"}",
         "holidays: expected a list"},
        {"{\"timezone\": \"UTC\", \"hours\": {}, \"holidays\": [\"2026-02-29\"]}",
         "holidays[0]: \"2026-02-29\" is not a date"},
        {"{\"timezone\": \"UTC\", \"hours\": {}, \"holidays\": [\"2026-12-25\", \"2026-12-25\"]}",
         "holidays: 2026-12-25 listed twice"},
        {"{\"timezone\": \"UTC\", \"hours\": {}, \"holidays\": [{\"date\": \"2026-12-24\", "
         "\"hours\": [[\"13:00\", \"09:00\"]]}]}",
         "holidays[0].hours[0]: end before start"},
        {"{\"timezone\": \"UTC\", \"hours\": {}, \"holidays\": [{\"day\": \"2026-12-24\"}]}",
         "holidays[0].day: unknown field"},
        {"{\"timezone\": \"UTC\", \"hours\": {}, \"open\": true}", "open: unknown field"},
        {"{\"timezone\": \"UTC\", \"timezone\": \"UTC\", \"hours\": {}}", "calendar: invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        calendar *c = NULL;
        char err[200];
        int rc = calendar_parse(cases[i].json, strlen(cases[i].json), &c, err, sizeof err);
        if (rc != CD_EINVAL || strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
            print_message("case %zu: rc %d, \"%s\", want \"%s\"\n", i, rc, err, cases[i].err);
        assert_int_equal(rc, CD_EINVAL);
        assert_null(c);
        assert_memory_equal(err, cases[i].err, strlen(cases[i].err));
    }
    /* A calendar that never opens: nothing is ever due. */
    calendar *c = NULL;
    const char *never = "{\"timezone\": \"UTC\", \"hours\": {}}";
    assert_int_equal(calendar_parse(never, strlen(never), &c, NULL, 0), 0);
    assert_int_equal(calendar_add_business(c, 0, 1), INT64_MAX);
    assert_int_equal(calendar_next_open(c, 0), INT64_MAX);
    assert_int_equal(calendar_business_between(c, 0, ms("2030-01-01T00:00:00Z")), 0);
    calendar_free(c);
    /* ... except on a holiday with hours. */
    const char *once = "{\"timezone\": \"Asia/Tokyo\", \"hours\": {}, \"holidays\": "
                       "[{\"date\": \"2027-05-03\", \"hours\": [[\"10:00\", \"11:00\"]]}]}";
    assert_int_equal(calendar_parse(once, strlen(once), &c, NULL, 0), 0);
    assert_int_equal(calendar_next_open(c, 0), ms("2027-05-03T01:00:00Z"));
    assert_int_equal(calendar_add_business(c, 0, 60), ms("2027-05-03T02:00:00Z"));
    assert_int_equal(calendar_add_business(c, 0, 61), INT64_MAX);
    calendar_free(c);
    assert_int_equal(calendar_parse("{}", CALENDAR_MAX_TEXT + 1, &c, NULL, 0), CD_ETOOBIG);
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Random instants in 2025-2028 on a minute, sometimes with seconds. */
static int64_t rand_instant(void)
{
    int64_t t = ms("2025-01-01T00:00:00Z") + (int64_t)(next_rand() % (4 * 366 * 1440)) * 60000;
    return next_rand() % 4 ? t : t + (int64_t)(next_rand() % 60000);
}

static void test_properties(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < NCALS; ci++) {
        const calendar *c = cals[ci];
        for (int k = 0; k < 300; k++) {
            int64_t a = rand_instant(), b = rand_instant(), m = rand_instant();
            if (a > b) {
                int64_t x = a;
                a = b;
                b = x;
            }
            int64_t ab = calendar_business_between(c, a, b);
            /* Additivity over any split point inside. */
            if (m >= a && m <= b)
                assert_int_equal(
                    calendar_business_between(c, a, m) + calendar_business_between(c, m, b), ab);
            /* add(between) lands at or before b, with nothing open between
             * (0 minutes is the next opening, which may be after b). */
            if (ab > 0) {
                int64_t u = calendar_add_business_ms(c, a, ab);
                assert_true(u <= b);
                assert_int_equal(calendar_business_between(c, a, u), ab);
                assert_int_equal(calendar_business_between(c, u, b), 0);
                assert_true(calendar_is_open(c, u - 1));
            }
            /* between(add) gives the minutes back; add is monotone in both. */
            int64_t n = (int64_t)(next_rand() % 20000);
            int64_t v = calendar_add_business(c, a, n);
            assert_int_equal(calendar_business_between(c, a, v), n * 60000);
            assert_true(calendar_add_business(c, a, n + 1) > v);
            assert_true(calendar_add_business(c, b, n) >= v);
            /* 0 minutes: the instant itself when open, else the next opening. */
            int64_t o = calendar_next_open(c, a);
            assert_true(o >= a);
            assert_true(calendar_is_open(c, o));
            assert_int_equal(calendar_business_between(c, a, o), 0);
            assert_true(calendar_next_close(c, o) > o);
        }
    }
}

/* Business minutes counted one minute at a time with calendar_is_open,
 * across each DST change of 2026 and 2100 in several zones. */
static void test_minute_count(void **state)
{
    (void)state;
    static const char *const from[] = {"2026-03-26T00:00:00Z", "2026-10-22T00:00:00Z",
                                       "2026-04-02T00:00:00Z", "2026-09-03T00:00:00Z",
                                       "2026-12-22T00:00:00Z", "2100-03-25T00:00:00Z"};
    for (size_t ci = 0; ci < NCALS; ci++)
        for (size_t f = 0; f < sizeof from / sizeof *from; f++) {
            int64_t a = ms(from[f]), open = 0;
            for (int64_t m = 0; m < 6 * 1440; m++)
                open += calendar_is_open(cals[ci], a + m * 60000);
            int64_t got = calendar_business_between(cals[ci], a, a + 6 * 1440 * 60000LL);
            if (got != open * 60000)
                print_message("%s from %s: %lld ms, counted %lld min\n", CALS[ci].name, from[f],
                              (long long)got, (long long)open);
            assert_int_equal(got, open * 60000);
        }
}

/* Long spans cost a walk of weeks, not minutes: a million business minutes
 * (about eight years of office hours) many times over, and each checked. */
static void test_long_spans(void **state)
{
    (void)state;
    const calendar *c = cal("nyc");
    int64_t a = ms("2026-01-05T14:00:00Z"); /* Monday 09:00 EST */
    for (int i = 0; i < 200; i++) {
        int64_t u = calendar_add_business(c, a, 1000000);
        assert_true(u != INT64_MAX);
        assert_int_equal(calendar_business_between(c, a, u), 1000000LL * 60000);
    }
    /* 1,000,000 min = 2083 days of 480 + 160 min; 2083 weekdays from
     * Monday 2026-01-05 (counting it) end on the Wednesday 416 weeks and 2
     * days later; the 160 min fall on Thursday 2033-12-29, 09:00 + 160 =
     * 11:40 EST. */
    assert_int_equal(calendar_add_business(c, a, 1000000), ms("2033-12-29T16:40:00Z"));
    assert_int_equal(calendar_add_business(cal("always"), CALENDAR_MAX_MS - 60000, 2), INT64_MAX);
    assert_int_equal(calendar_add_business(c, CALENDAR_MAX_MS - 60000, 2), INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),        cmocka_unit_test(test_open_close),
        cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_properties),
        cmocka_unit_test(test_minute_count), cmocka_unit_test(test_long_spans),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

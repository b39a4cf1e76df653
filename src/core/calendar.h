/* calendar.h - business calendars: a client's opening hours in its own time
 * zone, its holidays, and arithmetic in business time.
 *
 * A calendar is an IANA time zone (core/tz.h), weekly opening hours (for
 * each weekday, any number of [start, end) ranges of local wall-clock
 * time, minute precision, "24:00" allowed as an end), and holidays (local
 * dates closed all day, or open with hours of their own) - or 24/7.
 *
 * Semantics (docs/sla.md has the details and worked examples):
 *   - A range of local date D runs from the first instant at which the
 *     zone's clock shows D start-time to the first instant at which it shows
 *     D end-time (tz_local_to_utc). A time skipped by a spring-forward change
 *     maps to the change; a time shown twice after a fall-back change maps to
 *     its first occurrence.
 *   - Business time is real elapsed time (UTC) while the calendar is open.
 *     So 09:00-17:00 is 8 hours on an ordinary day; 01:00-05:00 on the day
 *     clocks spring forward at 02:00 is 3 hours, and on the day they fall
 *     back at 03:00 it is 5 hours; 00:00-24:00 is 23 or 25 hours on those
 *     days.
 *   - A holiday replaces its date's weekly hours: closed all day, or the
 *     hours it gives. A range that runs past midnight in the text ("22:00"
 *     to "06:00") is the two ranges 22:00-24:00 that day and 00:00-06:00 the
 *     next; a holiday on the next day closes the second part.
 *
 * Instants are UTC epoch milliseconds in 0..CALENDAR_MAX_MS; results that
 * would lie beyond it (or never happen: a calendar that never opens again)
 * are INT64_MAX. A calendar is immutable once parsed and may be shared
 * between threads. Arithmetic walks opening ranges, and skips whole weeks
 * at a time while neither a holiday nor a clock change lies ahead, so its
 * cost does not grow with the number of minutes. Pure apart from reading
 * the zone file (tz_get). */
#ifndef CALENDAR_H
#define CALENDAR_H

#include "core/tz.h"

#include <stddef.h>
#include <stdint.h>

#define CALENDAR_MAX_MS 253402300800000LL /* 10000-01-01T00:00:00Z */
#define CALENDAR_MAX_RANGES 48            /* ranges of one weekday or holiday */
#define CALENDAR_MAX_HOLIDAYS 10000
#define CALENDAR_MAX_TEXT (1u << 20)

typedef struct calendar calendar;

/* Parses a calendar from JSON text:
 *
 *   {"timezone": "Europe/London",
 *    "hours": {"mon": [["09:00", "17:30"]], "tue": [["09:00", "12:00"], ["13:00", "17:30"]],
 *              "fri": [["22:00", "06:00"]], "sun": []},
 *    "holidays": ["2026-12-25", {"date": "2026-12-24", "hours": [["09:00", "13:00"]]}]}
 *
 * or "24/7" (open all the time, UTC), or {"timezone": ..., "hours": "24/7",
 * "holidays": [...]} (open all day every day but the holidays). Weekdays
 * are "mon".."sun"; a missing weekday is closed. Times are "HH:MM", 00:00 to
 * 24:00. Ranges of one day may come in any order but may not overlap.
 * Returns 0, CD_EINVAL with a message naming the offending field in err
 * (like `hours.tue[1][0]: "9:00" is not a time HH:MM`), CD_ETOOBIG,
 * CD_ENOMEM. err may be NULL. */
int calendar_parse(const char *text, size_t len, calendar **out, char *err, size_t errlen);
/* A calendar open all the time (no zone, no holidays). */
int calendar_always(calendar **out);
void calendar_free(calendar *c);

/* The calendar's zone (UTC for "24/7"). */
const tz *calendar_zone(const calendar *c);
/* 1 when the calendar is open all the time: "24/7", or open around the
 * clock every day with no holidays (fast paths apply). */
int calendar_is_always(const calendar *c);

int calendar_is_open(const calendar *c, int64_t t_ms);
/* t_ms when open at t_ms, else the next instant it opens (INT64_MAX: never). */
int64_t calendar_next_open(const calendar *c, int64_t t_ms);
/* The end of the opening period that holds t_ms (t_ms itself when closed;
 * adjacent ranges, such as 22:00-24:00 and 00:00-06:00, count as one). */
int64_t calendar_next_close(const calendar *c, int64_t t_ms);

/* The instant at which `minutes` (>= 0) business minutes have passed since
 * t_ms: the earliest u with calendar_business_between(c, t_ms, u) equal to
 * them, so a span that ends at closing time ends there (09:00 + 480 minutes
 * on a 09:00-17:00 day is 17:00, not 09:00 the next day). 0 minutes gives
 * t_ms when open, else the next opening. INT64_MAX when never. */
int64_t calendar_add_business(const calendar *c, int64_t t_ms, int64_t minutes);
/* The same, in milliseconds of business time. */
int64_t calendar_add_business_ms(const calendar *c, int64_t t_ms, int64_t ms);
/* Business milliseconds in [a_ms, b_ms); 0 when b_ms <= a_ms. */
int64_t calendar_business_between(const calendar *c, int64_t a_ms, int64_t b_ms);

/* Business milliseconds of an ordinary week (no holiday, no clock change). */
int64_t calendar_week_ms(const calendar *c);

#endif

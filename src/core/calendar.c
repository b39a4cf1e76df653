/* calendar.c - business calendars and business-time arithmetic; see
 * calendar.h and docs/sla.md. */
#include "core/calendar.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_S 86400
#define WEEK_S (7 * DAY_S)
#define MAX_DAY (CALENDAR_MAX_MS / 1000 / DAY_S + 2)

typedef struct span {
    uint16_t s, e; /* minutes after local midnight, s < e <= 1440 */
} span;

struct calendar {
    const tz *z;
    int always; /* open all the time: no zone, no holidays */
    span *ranges;
    uint32_t wfirst[7], wcount[7]; /* by weekday, 0 = Monday, into ranges */
    int64_t week_ms;               /* business ms of an ordinary week */
    size_t nhol;
    int64_t *hday;             /* holidays: local days since the epoch, ascending */
    uint32_t *hfirst, *hcount; /* their hours, into ranges (none: closed) */
};

static const char *const WEEKDAYS[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static int weekday(int64_t day) /* 0 = Monday; 1970-01-01 was a Thursday */
{
    return (int)(((day + 3) % 7 + 7) % 7);
}

/* --- parsing --------------------------------------------------------------- */

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return CD_EINVAL;
}

/* "HH:MM" into minutes 0..1440; -1 when malformed. */
static int parse_time(const json_t *j)
{
    const char *s = json_is_string(j) ? json_string_value(j) : NULL;
    if (!s || strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + s[1] - '0', m = (s[3] - '0') * 10 + s[4] - '0';
    if (h > 24 || m > 59 || (h == 24 && m))
        return -1;
    return h * 60 + m;
}

/* "YYYY-MM-DD" into days since the epoch; 0 when malformed. */
static int parse_date(const char *s, int64_t *day)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m == 2 && d == 29 && !leap)
        return 0;
    *day = tz_days_from_civil(y, (unsigned)m, (unsigned)d);
    return 1;
}

typedef struct daylist {
    span r[2 * CALENDAR_MAX_RANGES];
    unsigned n;
} daylist;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->s != y->s ? (x->s < y->s ? -1 : 1) : (x->e < y->e ? -1 : x->e > y->e);
}

static void fmt_min(char out[6], int m)
{
    snprintf(out, 6, "%02d:%02d", (m / 60) % 100, m % 60);
}

/* Sorts a day's ranges and rejects overlaps; adjacent ranges are merged. */
static int normalise(daylist *d, const char *field, char *err, size_t errlen)
{
    qsort(d->r, d->n, sizeof *d->r, cmp_span);
    unsigned k = 0;
    for (unsigned i = 0; i < d->n; i++) {
        if (k && d->r[i].s < d->r[k - 1].e) {
            char a[6], b[6], c[6], e[6];
            fmt_min(a, d->r[k - 1].s);
            fmt_min(b, d->r[k - 1].e);
            fmt_min(c, d->r[i].s);
            fmt_min(e, d->r[i].e);
            return fail(err, errlen, "%s: ranges %s-%s and %s-%s overlap", field, a, b, c, e);
        }
        if (k && d->r[i].s == d->r[k - 1].e)
            d->r[k - 1].e = d->r[i].e;
        else
            d->r[k++] = d->r[i];
    }
    d->n = k;
    if (k > CALENDAR_MAX_RANGES)
        return fail(err, errlen, "%s: more than %d ranges", field, CALENDAR_MAX_RANGES);
    return 0;
}

/* A list of [start, end] pairs. Ranges past midnight (end before start)
 * are split: their second part goes to `next` (NULL: not allowed). */
static int parse_ranges(const json_t *arr, const char *field, daylist *d, daylist *next, char *err,
                        size_t errlen)
{
    if (!json_is_array(arr))
        return fail(err, errlen, "%s: expected a list of [\"HH:MM\", \"HH:MM\"] ranges", field);
    if (json_array_size(arr) > CALENDAR_MAX_RANGES)
        return fail(err, errlen, "%s: more than %d ranges", field, CALENDAR_MAX_RANGES);
    size_t i;
    json_t *r;
    json_array_foreach (arr, i, r) {
        if (!json_is_array(r) || json_array_size(r) != 2)
            return fail(err, errlen, "%s[%zu]: expected [\"HH:MM\", \"HH:MM\"]", field, i);
        int t[2];
        for (int k = 0; k < 2; k++) {
            t[k] = parse_time(json_array_get(r, (size_t)k));
            if (t[k] < 0) {
                const char *s = json_string_value(json_array_get(r, (size_t)k));
                return fail(err, errlen, "%s[%zu][%d]: \"%.16s\" is not a time HH:MM", field, i, k,
                            s ? s : "?");
            }
        }
        if (t[0] == 1440)
            return fail(err, errlen, "%s[%zu][0]: a range cannot start at 24:00", field, i);
        if (t[0] == t[1])
            return fail(err, errlen, "%s[%zu]: empty range", field, i);
        if (t[1] < t[0] && !next)
            return fail(err, errlen, "%s[%zu]: end before start", field, i);
        if (t[1] < t[0]) {
            d->r[d->n++] = (span){(uint16_t)t[0], 1440};
            if (t[1] > 0)
                next->r[next->n++] = (span){0, (uint16_t)t[1]};
        } else {
            d->r[d->n++] = (span){(uint16_t)t[0], (uint16_t)t[1]};
        }
    }
    return 0;
}

static int cmp_hol(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return *x < *y ? -1 : *x > *y;
}

void calendar_free(calendar *c)
{
    if (!c)
        return;
    cd_free(c->ranges);
    cd_free(c->hday);
    cd_free(c->hfirst);
    cd_free(c->hcount);
    cd_free(c);
}

int calendar_always(calendar **out)
{
    calendar *c = cd_calloc(1, sizeof *c);
    if (!c)
        return CD_ENOMEM;
    const tz *z = NULL;
    if (tz_get("UTC", &z) != 0) {
        cd_free(c);
        return CD_EIO;
    }
    c->z = z;
    c->always = 1;
    c->week_ms = 7LL * DAY_S * 1000;
    *out = c;
    return 0;
}

typedef struct holiday {
    int64_t day; /* first: sorted by day */
    daylist hours;
} holiday;

static int build(const json_t *root, calendar **out, char *err, size_t errlen)
{
    if (!json_is_object(root))
        return fail(err, errlen, "calendar: expected an object or \"24/7\"");
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)root, key, v) {
        if (strcmp(key, "timezone") && strcmp(key, "hours") && strcmp(key, "holidays"))
            return fail(err, errlen, "%.32s: unknown field", key);
    }
    json_t *jz = json_object_get(root, "timezone"), *jh = json_object_get(root, "hours"),
           *jd = json_object_get(root, "holidays");
    if (!json_is_string(jz))
        return fail(err, errlen, "timezone: required, an IANA zone name like \"Europe/Berlin\"");
    const tz *z = NULL;
    int rc = tz_get(json_string_value(jz), &z);
    if (rc == CD_ENOMEM)
        return rc;
    if (rc)
        return fail(err, errlen, "timezone: \"%.64s\" is not a known time zone",
                    json_string_value(jz));
    daylist week[7];
    memset(week, 0, sizeof week);
    if (json_is_string(jh) && strcmp(json_string_value(jh), "24/7") == 0) {
        for (int d = 0; d < 7; d++)
            week[d] = (daylist){.r = {{0, 1440}}, .n = 1};
    } else if (json_is_object(jh)) {
        json_object_foreach (jh, key, v) {
            int d = 0;
            while (d < 7 && strcmp(key, WEEKDAYS[d]))
                d++;
            if (d == 7)
                return fail(err, errlen, "hours.%.16s: not a weekday (mon, tue, ... sun)", key);
            char field[32];
            snprintf(field, sizeof field, "hours.%s", key);
            if ((rc = parse_ranges(v, field, &week[d], &week[(d + 1) % 7], err, errlen)))
                return rc;
        }
        for (int d = 0; d < 7; d++) {
            char field[32];
            snprintf(field, sizeof field, "hours.%s", WEEKDAYS[d]);
            if ((rc = normalise(&week[d], field, err, errlen)))
                return rc;
        }
    } else {
        return fail(err, errlen, "hours: required, an object of weekdays or \"24/7\"");
    }

    size_t nhol = 0;
    holiday *hol = NULL;
    if (jd && !json_is_array(jd))
        return fail(err, errlen, "holidays: expected a list of dates");
    if (jd && json_array_size(jd) > CALENDAR_MAX_HOLIDAYS)
        return fail(err, errlen, "holidays: more than %d", CALENDAR_MAX_HOLIDAYS);
    if (jd && json_array_size(jd)) {
        hol = cd_calloc(json_array_size(jd), sizeof *hol);
        if (!hol)
            return CD_ENOMEM;
        size_t i;
        json_array_foreach (jd, i, v) {
            const char *date = json_is_string(v) ? json_string_value(v) : NULL;
            json_t *hours = NULL;
            if (json_is_object(v)) {
                json_object_foreach (v, key, hours) {
                    if (strcmp(key, "date") && strcmp(key, "hours")) {
                        cd_free(hol);
                        return fail(err, errlen, "holidays[%zu].%.32s: unknown field", i, key);
                    }
                }
                date = json_string_value(json_object_get(v, "date"));
                hours = json_object_get(v, "hours");
            }
            if (!parse_date(date, &hol[i].day)) {
                cd_free(hol);
                return fail(err, errlen, "holidays[%zu]: \"%.16s\" is not a date YYYY-MM-DD", i,
                            date ? date : "?");
            }
            char field[48];
            snprintf(field, sizeof field, "holidays[%zu].hours", i);
            if (hours && ((rc = parse_ranges(hours, field, &hol[i].hours, NULL, err, errlen)) ||
                          (rc = normalise(&hol[i].hours, field, err, errlen)))) {
                cd_free(hol);
                return rc;
            }
        }
        nhol = json_array_size(jd);
        qsort(hol, nhol, sizeof *hol, cmp_hol);
        for (size_t k = 1; k < nhol; k++)
            if (hol[k].day == hol[k - 1].day) {
                int64_t y;
                unsigned m, d;
                tz_civil_from_days(hol[k].day, &y, &m, &d);
                cd_free(hol);
                return fail(err, errlen, "holidays: %04lld-%02u-%02u listed twice", (long long)y, m,
                            d);
            }
    }

    size_t nr = 0;
    for (int d = 0; d < 7; d++)
        nr += week[d].n;
    for (size_t k = 0; k < nhol; k++)
        nr += hol[k].hours.n;
    calendar *c = cd_calloc(1, sizeof *c);
    if (c) {
        c->ranges = cd_calloc(nr ? nr : 1, sizeof *c->ranges);
        c->hday = cd_calloc(nhol ? nhol : 1, sizeof *c->hday);
        c->hfirst = cd_calloc(nhol ? nhol : 1, sizeof *c->hfirst);
        c->hcount = cd_calloc(nhol ? nhol : 1, sizeof *c->hcount);
    }
    if (!c || !c->ranges || !c->hday || !c->hfirst || !c->hcount) {
        calendar_free(c);
        cd_free(hol);
        return CD_ENOMEM;
    }
    c->z = z;
    uint32_t k = 0;
    for (int d = 0; d < 7; d++) {
        c->wfirst[d] = k;
        c->wcount[d] = week[d].n;
        for (unsigned i = 0; i < week[d].n; i++) {
            c->ranges[k++] = week[d].r[i];
            c->week_ms += (int64_t)(week[d].r[i].e - week[d].r[i].s) * 60000;
        }
    }
    c->nhol = nhol;
    for (size_t h = 0; h < nhol; h++) {
        c->hday[h] = hol[h].day;
        c->hfirst[h] = k;
        c->hcount[h] = hol[h].hours.n;
        for (unsigned i = 0; i < hol[h].hours.n; i++)
            c->ranges[k++] = hol[h].hours.r[i];
    }
    cd_free(hol);
    /* Open around the clock with no holidays: the same as "24/7". */
    c->always = c->week_ms == WEEK_S * 1000LL && nhol == 0;
    *out = c;
    return 0;
}

int calendar_parse(const char *text, size_t len, calendar **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (len > CALENDAR_MAX_TEXT)
        return CD_ETOOBIG;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return fail(err, errlen, "calendar: invalid JSON at line %d: %s", je.line, je.text);
    int rc;
    if (json_is_string(root) && strcmp(json_string_value(root), "24/7") == 0)
        rc = calendar_always(out);
    else
        rc = build(root, out, err, errlen);
    json_decref(root);
    return rc;
}

const tz *calendar_zone(const calendar *c)
{
    return c->z;
}

int calendar_is_always(const calendar *c)
{
    return c->always;
}

int64_t calendar_week_ms(const calendar *c)
{
    return c->week_ms;
}

/* --- walking opening ranges --------------------------------------------------- */

/* A span of constant offset: [from, until) seconds, `off` in force, and
 * `before` the offset just before `from`. */
typedef struct seg {
    int64_t from, until;
    int32_t off, before;
} seg;

static void seg_at(const tz *z, int64_t t, seg *s)
{
    s->off = tz_offset(z, t);
    s->from = tz_prev_change(z, t);
    s->until = tz_next_change(z, t);
    s->before = s->from == INT64_MIN ? s->off : tz_offset(z, s->from - 1);
}

/* tz_local_to_utc, answered from the current span when it can be. */
static int64_t to_utc(const tz *z, seg *s, int64_t local)
{
    int64_t cand = local - s->off;
    if (cand < s->until && (s->from == INT64_MIN || local - s->before >= s->from))
        return cand > s->from ? cand : s->from;
    int64_t u = tz_local_to_utc(z, local);
    seg_at(z, u, s);
    return u;
}

/* Opening ranges in ascending order, as UTC ms. */
typedef struct iter {
    const calendar *c;
    seg s;
    int64_t day; /* local day of the ranges being walked */
    size_t h;    /* the first holiday >= day */
    const span *r;
    uint32_t n, i;
} iter;

static void it_day(iter *it)
{
    const calendar *c = it->c;
    while (it->h < c->nhol && c->hday[it->h] < it->day)
        it->h++;
    if (it->h < c->nhol && c->hday[it->h] == it->day) {
        it->r = c->ranges + c->hfirst[it->h];
        it->n = c->hcount[it->h];
    } else {
        int w = weekday(it->day);
        it->r = c->ranges + c->wfirst[w];
        it->n = c->wcount[w];
    }
    it->i = 0;
}

static void it_init(iter *it, const calendar *c, int64_t t_ms)
{
    it->c = c;
    int64_t t = floor_div(t_ms, 1000);
    seg_at(c->z, t, &it->s);
    /* An instant can lie in the ranges of the local day before its own
     * (a fall-back change across midnight): start a day early. */
    it->day = floor_div(t + it->s.off, DAY_S) - 1;
    size_t lo = 0, hi = c->nhol;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->hday[mid] < it->day)
            lo = mid + 1;
        else
            hi = mid;
    }
    it->h = lo;
    it_day(it);
}

/* The next non-empty range of the current day: 1. At the end of a day,
 * moves to the next day that may have ranges and returns 2 (so callers can
 * skip weeks at a day's start); 0 when no range is left before
 * CALENDAR_MAX_MS. */
static int it_next(iter *it, int64_t *u0, int64_t *u1)
{
    const calendar *c = it->c;
    while (it->i < it->n) {
        const span *r = &it->r[it->i++];
        int64_t a = to_utc(c->z, &it->s, it->day * DAY_S + r->s * 60);
        int64_t b = to_utc(c->z, &it->s, it->day * DAY_S + r->e * 60);
        if (b > a) {
            *u0 = a * 1000;
            *u1 = b * 1000;
            return 1;
        }
    }
    /* Closed on ordinary weeks: jump to the next holiday with hours. */
    if (c->week_ms == 0) {
        while (it->h < c->nhol && (c->hday[it->h] <= it->day || !c->hcount[it->h]))
            it->h++;
        if (it->h == c->nhol)
            return 0;
        it->day = c->hday[it->h];
    } else {
        it->day++;
    }
    if (it->day > MAX_DAY)
        return 0;
    it_day(it);
    return 2;
}

/* At the start of a local day (no range of it taken yet) whose midnight is
 * at or after t_ms: how many whole ordinary weeks (no holiday, no clock
 * change) lie ahead that end by end_ms; at most max. */
static int64_t it_weeks(iter *it, int64_t t_ms, int64_t end_ms, int64_t max)
{
    const calendar *c = it->c;
    if (it->i != 0 || max <= 0)
        return 0;
    int64_t l0 = it->day * DAY_S, t0 = to_utc(c->z, &it->s, l0);
    if (t0 != l0 - it->s.off || t0 * 1000 < t_ms)
        return 0;
    int64_t k = max;
    if (it->h < c->nhol)
        k = k < (c->hday[it->h] - it->day) / 7 ? k : (c->hday[it->h] - it->day) / 7;
    if (it->s.until != INT64_MAX) {
        int64_t lim = (it->s.until - t0) / WEEK_S;
        k = k < lim ? k : lim;
    }
    int64_t lim = (floor_div(end_ms, 1000) - t0) / WEEK_S;
    k = k < lim ? k : lim;
    return k > 0 ? k : 0;
}

static void it_skip(iter *it, int64_t weeks)
{
    it->day += 7 * weeks;
    it_day(it);
}

static int64_t clamp(int64_t t)
{
    return t < 0 ? 0 : t > CALENDAR_MAX_MS ? CALENDAR_MAX_MS : t;
}

/* From t_ms, spends `budget` business ms (INT64_MAX: unbounded) without
 * passing end_ms. Returns the instant the budget is spent, or INT64_MAX;
 * *used gets the business ms spent. */
static int64_t walk(const calendar *c, int64_t t_ms, int64_t budget, int64_t end_ms, int64_t *used)
{
    int64_t rem = budget, got = 0, u0, u1;
    iter it;
    it_init(&it, c, t_ms);
    for (;;) {
        int r = it_next(&it, &u0, &u1);
        if (r == 0)
            break;
        if (r == 2) {
            int64_t max = !c->week_ms ? 0 : rem == INT64_MAX ? INT64_MAX : (rem - 1) / c->week_ms;
            int64_t k = it_weeks(&it, t_ms, end_ms, max);
            if (k > 0) {
                it_skip(&it, k);
                rem -= rem == INT64_MAX ? 0 : k * c->week_ms;
                got += k * c->week_ms;
            }
            continue;
        }
        if (u1 <= t_ms)
            continue;
        if (u0 >= end_ms)
            break;
        int64_t s0 = u0 > t_ms ? u0 : t_ms, e0 = u1 < end_ms ? u1 : end_ms, len = e0 - s0;
        if (rem <= len) {
            *used = got + rem;
            return s0 + rem;
        }
        rem -= rem == INT64_MAX ? 0 : len;
        got += len;
        if (u1 >= end_ms)
            break;
    }
    *used = got;
    return INT64_MAX;
}

int64_t calendar_add_business_ms(const calendar *c, int64_t t_ms, int64_t ms)
{
    if (t_ms == INT64_MAX)
        return INT64_MAX;
    t_ms = clamp(t_ms);
    ms = ms < 0 ? 0 : ms;
    if (c->always)
        return ms > CALENDAR_MAX_MS - t_ms ? INT64_MAX : t_ms + ms;
    int64_t used;
    return walk(c, t_ms, ms, CALENDAR_MAX_MS, &used);
}

int64_t calendar_add_business(const calendar *c, int64_t t_ms, int64_t minutes)
{
    if (minutes > CALENDAR_MAX_MS / 60000)
        return INT64_MAX;
    return calendar_add_business_ms(c, t_ms, minutes * 60000);
}

int64_t calendar_business_between(const calendar *c, int64_t a_ms, int64_t b_ms)
{
    a_ms = clamp(a_ms);
    b_ms = clamp(b_ms);
    if (b_ms <= a_ms)
        return 0;
    if (c->always)
        return b_ms - a_ms;
    int64_t used;
    walk(c, a_ms, INT64_MAX, b_ms, &used);
    return used;
}

int64_t calendar_next_open(const calendar *c, int64_t t_ms)
{
    return calendar_add_business_ms(c, t_ms, 0);
}

int calendar_is_open(const calendar *c, int64_t t_ms)
{
    return t_ms >= 0 && t_ms < CALENDAR_MAX_MS && calendar_next_open(c, t_ms) == t_ms;
}

int64_t calendar_next_close(const calendar *c, int64_t t_ms)
{
    if (!calendar_is_open(c, t_ms))
        return t_ms;
    if (c->always)
        return INT64_MAX;
    iter it;
    int64_t u0, u1, close = t_ms;
    it_init(&it, c, t_ms);
    int r;
    while ((r = it_next(&it, &u0, &u1))) {
        if (r == 2) {
            /* Open around the clock with no holiday ahead: never closes. */
            if (c->week_ms == WEEK_S * 1000LL && it.h == c->nhol &&
                to_utc(c->z, &it.s, it.day * DAY_S) * 1000 == close)
                return INT64_MAX;
            /* Open around the clock for a long stretch: skip whole weeks. */
            int64_t k = c->week_ms == WEEK_S * 1000LL
                            ? it_weeks(&it, close, CALENDAR_MAX_MS, INT64_MAX)
                            : 0;
            if (k > 0 && to_utc(c->z, &it.s, it.day * DAY_S) * 1000 == close) {
                it_skip(&it, k);
                close = to_utc(c->z, &it.s, it.day * DAY_S) * 1000;
            }
            continue;
        }
        if (u1 <= t_ms)
            continue;
        if (u0 > close)
            break;
        close = u1;
    }
    return close >= CALENDAR_MAX_MS ? INT64_MAX : close;
}

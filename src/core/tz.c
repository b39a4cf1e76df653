/* tz.c - TZif reader and POSIX TZ rules; see tz.h. */
#include "core/tz.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_DIR "/usr/share/zoneinfo/"
#define TZ_FILE_MAX (256 * 1024)
#define TZ_NAME_MAX 64

/* A POSIX rule for when daylight time starts or ends. */
typedef struct rule {
    char kind; /* 'J' Julian 1..365 without Feb 29, 'D' day 0..365, 'M' month.week.day */
    int day, week, month;
    int32_t time; /* seconds after local midnight (may be negative or > 24 h) */
} rule;

typedef struct posix {
    int valid, has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    rule start, end;
} posix;

struct tz {
    uint32_t n;        /* transitions */
    int64_t *at;       /* transition instants, ascending */
    int32_t *off_after; /* offset from each transition on */
    int32_t off_before; /* offset before the first transition */
    posix rule;
};

/* --- civil dates (H. Hinnant's algorithms) -------------------------------- */

int64_t tz_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void tz_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* --- POSIX TZ strings ------------------------------------------------------ */

static const char *parse_name(const char *p)
{
    if (*p == '<') {
        while (*p && *p != '>')
            p++;
        return *p == '>' ? p + 1 : NULL;
    }
    const char *s = p;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] into seconds; hours up to 167 (rule times). */
static const char *parse_hms(const char *p, int32_t *out)
{
    int sign = 1;
    long h = 0, m = 0, s = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (*p < '0' || *p > '9')
        return NULL;
    h = strtol(p, (char **)&p, 10);
    if (*p == ':') {
        m = strtol(p + 1, (char **)&p, 10);
        if (*p == ':')
            s = strtol(p + 1, (char **)&p, 10);
    }
    if (h > 167 || m > 59 || s > 59)
        return NULL;
    *out = (int32_t)(sign * (h * 3600 + m * 60 + s));
    return p;
}

static const char *parse_rule(const char *p, rule *r)
{
    r->time = 7200;
    if (*p == 'M') {
        r->kind = 'M';
        r->month = (int)strtol(p + 1, (char **)&p, 10);
        if (*p++ != '.')
            return NULL;
        r->week = (int)strtol(p, (char **)&p, 10);
        if (*p++ != '.')
            return NULL;
        r->day = (int)strtol(p, (char **)&p, 10);
        if (r->month < 1 || r->month > 12 || r->week < 1 || r->week > 5 || r->day < 0 ||
            r->day > 6)
            return NULL;
    } else if (*p == 'J') {
        r->kind = 'J';
        r->day = (int)strtol(p + 1, (char **)&p, 10);
        if (r->day < 1 || r->day > 365)
            return NULL;
    } else if (*p >= '0' && *p <= '9') {
        r->kind = 'D';
        r->day = (int)strtol(p, (char **)&p, 10);
        if (r->day > 365)
            return NULL;
    } else {
        return NULL;
    }
    if (*p == '/')
        p = parse_hms(p + 1, &r->time);
    return p;
}

static void parse_posix(const char *s, posix *out)
{
    posix x = {0};
    int32_t off;
    const char *p = parse_name(s);
    if (!p || !(p = parse_hms(p, &off)))
        return;
    x.std_off = -off;
    if (*p) {
        if (!(p = parse_name(p)))
            return;
        x.has_dst = 1;
        x.dst_off = x.std_off + 3600;
        if (*p && *p != ',') {
            if (!(p = parse_hms(p, &off)))
                return;
            x.dst_off = -off;
        }
        if (*p != ',') /* no rules: POSIX leaves them to the system; US rules */
            return;
        if (!(p = parse_rule(p + 1, &x.start)) || *p != ',' || !(p = parse_rule(p + 1, &x.end)))
            return;
    }
    if (*p)
        return;
    x.valid = 1;
    *out = x;
}

/* Local seconds since the epoch at which rule r falls in year y. */
static int64_t rule_local(const rule *r, int64_t y)
{
    int64_t day;
    if (r->kind == 'J')
        day = tz_days_from_civil(y, 1, 1) + r->day - 1 + (is_leap(y) && r->day >= 60);
    else if (r->kind == 'D')
        day = tz_days_from_civil(y, 1, 1) + r->day;
    else {
        int64_t first = tz_days_from_civil(y, (unsigned)r->month, 1);
        int wd = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
        int64_t d = first + (r->day - wd + 7) % 7 + (int64_t)(r->week - 1) * 7;
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int64_t len = mdays[r->month - 1] + (r->month == 2 && is_leap(y));
        while (d >= first + len)
            d -= 7;
        day = d;
    }
    return day * 86400 + r->time;
}

static int32_t posix_offset(const posix *x, int64_t t)
{
    if (!x->has_dst)
        return x->std_off;
    int64_t y;
    unsigned m, d;
    tz_civil_from_days(floor_div(t + x->std_off, 86400), &y, &m, &d);
    /* The start is written in standard time, the end in daylight time. */
    int64_t start = rule_local(&x->start, y) - x->std_off;
    int64_t end = rule_local(&x->end, y) - x->dst_off;
    int dst = start < end ? t >= start && t < end /* northern: spring to autumn */
                          : t < end || t >= start; /* southern: across the new year */
    return dst ? x->dst_off : x->std_off;
}

/* --- TZif ------------------------------------------------------------------ */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

int tz_parse(const unsigned char *data, uint64_t len, tz **out)
{
    const unsigned char *p = data, *end = data + len;
    int v2 = 0;
    uint32_t cnt[6];
    for (int pass = 0; pass < 2; pass++) {
        if ((uint64_t)(end - p) < 44 || memcmp(p, "TZif", 4) != 0)
            return CD_ENOTFOUND;
        if (pass == 0)
            v2 = p[4] >= '2';
        for (int i = 0; i < 6; i++)
            cnt[i] = be32(p + 20 + 4 * i);
        uint32_t isut = cnt[0], isstd = cnt[1], leap = cnt[2], timecnt = cnt[3],
                 typecnt = cnt[4], charcnt = cnt[5];
        unsigned tsize = pass ? 8 : 4;
        uint64_t body = (uint64_t)timecnt * tsize + timecnt + (uint64_t)typecnt * 6 + charcnt +
                        (uint64_t)leap * (tsize + 4) + isstd + isut;
        if (typecnt == 0 || typecnt > 256 || timecnt > 100000 || (uint64_t)(end - p - 44) < body)
            return CD_ENOTFOUND;
        if (pass == 0 && v2) {
            p += 44 + body;
            continue;
        }
        const unsigned char *times = p + 44, *idx = times + (uint64_t)timecnt * tsize,
                            *types = idx + timecnt;
        tz *z = cd_calloc(1, sizeof *z);
        if (!z)
            return CD_ENOMEM;
        z->n = timecnt;
        z->at = cd_calloc(timecnt ? timecnt : 1, sizeof *z->at);
        z->off_after = cd_calloc(timecnt ? timecnt : 1, sizeof *z->off_after);
        if (!z->at || !z->off_after) {
            tz_free(z);
            return CD_ENOMEM;
        }
        for (uint32_t i = 0; i < timecnt; i++) {
            z->at[i] = pass ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
            if (idx[i] >= typecnt || (i && z->at[i] <= z->at[i - 1])) {
                tz_free(z);
                return CD_ENOTFOUND;
            }
            z->off_after[i] = (int32_t)be32(types + 6 * idx[i]);
        }
        /* Before the first transition: the first standard-time type. */
        z->off_before = (int32_t)be32(types);
        for (uint32_t t = 0; t < typecnt; t++)
            if (!types[6 * t + 4]) {
                z->off_before = (int32_t)be32(types + 6 * t);
                break;
            }
        const unsigned char *foot = p + 44 + body;
        if (pass && foot < end && *foot == '\n') {
            char s[128];
            size_t k = 0;
            for (foot++; foot < end && *foot != '\n' && k < sizeof s - 1; foot++)
                s[k++] = (char)*foot;
            s[k] = 0;
            parse_posix(s, &z->rule);
        }
        *out = z;
        return 0;
    }
    return CD_ENOTFOUND;
}

void tz_free(tz *z)
{
    if (!z)
        return;
    cd_free(z->at);
    cd_free(z->off_after);
    cd_free(z);
}

int32_t tz_offset(const tz *z, int64_t t)
{
    if (z->n == 0)
        return z->rule.valid ? posix_offset(&z->rule, t) : z->off_before;
    if (t < z->at[0])
        return z->off_before;
    if (t >= z->at[z->n - 1] && z->rule.valid)
        return posix_offset(&z->rule, t);
    uint32_t lo = 0, hi = z->n; /* the last transition <= t */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->off_after[lo];
}

static int64_t local_day(const tz *z, int64_t t)
{
    return floor_div(t + tz_offset(z, t), 86400);
}

int64_t tz_day_start_ms(const tz *z, int64_t t_ms)
{
    int64_t t = floor_div(t_ms, 1000), day = local_day(z, t);
    /* Offsets lie within -26 h..+26 h: the first second whose local day is
     * `day` lies in this window, found by bisection. */
    int64_t lo = day * 86400 - 26 * 3600, hi = day * 86400 + 26 * 3600;
    if (hi > t)
        hi = t;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (local_day(z, mid) >= day)
            hi = mid;
        else
            lo = mid;
    }
    return hi * 1000;
}

/* --- changes and local time ------------------------------------------------ */

static int is_change(const tz *z, int64_t x)
{
    return x > INT64_MIN && tz_offset(z, x) != tz_offset(z, x - 1);
}

/* The rule's transition instants of year y (UTC), ascending, into out[2]. */
static void rule_changes(const posix *x, int64_t y, int64_t out[2])
{
    int64_t a = rule_local(&x->start, y) - x->std_off, b = rule_local(&x->end, y) - x->dst_off;
    out[0] = a < b ? a : b;
    out[1] = a < b ? b : a;
}

/* The year (UTC) that holds t. */
static int64_t year_of(int64_t t)
{
    int64_t y;
    unsigned m, d;
    tz_civil_from_days(floor_div(t, 86400), &y, &m, &d);
    return y;
}

int64_t tz_next_change(const tz *z, int64_t t)
{
    /* The file's transitions after t, while they are in force. */
    uint32_t lo = 0, hi = z->n; /* the first transition > t */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (uint32_t i = lo; i < z->n; i++)
        if (is_change(z, z->at[i]))
            return z->at[i];
    if (!z->rule.valid || !z->rule.has_dst || z->rule.std_off == z->rule.dst_off)
        return INT64_MAX;
    /* Beyond the table: the rule's instants, from the year before t on. */
    int64_t from = z->n && z->at[z->n - 1] > t ? z->at[z->n - 1] : t;
    for (int64_t y = year_of(from) - 1, k = 0; k < 4; y++, k++) {
        int64_t c[2];
        rule_changes(&z->rule, y, c);
        for (int j = 0; j < 2; j++)
            if (c[j] > t && (!z->n || c[j] >= z->at[z->n - 1]) && is_change(z, c[j]))
                return c[j];
    }
    return INT64_MAX;
}

int64_t tz_prev_change(const tz *z, int64_t t)
{
    if (z->rule.valid && z->rule.has_dst && z->rule.std_off != z->rule.dst_off &&
        (!z->n || t >= z->at[z->n - 1])) {
        for (int64_t y = year_of(t) + 1, k = 0; k < 4; y--, k++) {
            int64_t c[2];
            rule_changes(&z->rule, y, c);
            for (int j = 1; j >= 0; j--)
                if (c[j] <= t && (!z->n || c[j] >= z->at[z->n - 1]) && is_change(z, c[j]))
                    return c[j];
        }
    }
    uint32_t lo = 0, hi = z->n; /* the first transition > t */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (uint32_t i = lo; i-- > 0;)
        if (is_change(z, z->at[i]))
            return z->at[i];
    return INT64_MIN;
}

int64_t tz_local_to_utc(const tz *z, int64_t local)
{
    /* Walk the spans of constant offset from a day and more before: the
     * first span whose wall clock reaches `local` holds the answer. */
    int64_t from = local - 30 * 3600;
    for (int guard = 0; guard < 64; guard++) {
        int32_t before = tz_offset(z, from);
        int64_t change = tz_next_change(z, from);
        if (change == INT64_MAX || local - before < change)
            return local - before > from ? local - before : from;
        if (local - tz_offset(z, change) < change)
            return change; /* skipped by the change */
        from = change;
    }
    return local - tz_offset(z, local);
}

/* --- the shared cache -------------------------------------------------------- */

typedef struct cached {
    char name[TZ_NAME_MAX + 1];
    tz *z;
    struct cached *next;
} cached;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static cached *cache;

static int name_ok(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (!len || len > TZ_NAME_MAX || n[0] == '/' || strstr(n, ".."))
        return 0;
    for (; *n; n++)
        if (!((*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z') || (*n >= '0' && *n <= '9') ||
              *n == '/' || *n == '_' || *n == '-' || *n == '+'))
            return 0;
    return 1;
}

int tz_get(const char *name, const tz **out)
{
    if (!name_ok(name))
        return CD_EINVAL;
    pthread_mutex_lock(&cache_mu);
    for (cached *c = cache; c; c = c->next)
        if (strcmp(c->name, name) == 0) {
            *out = c->z;
            pthread_mutex_unlock(&cache_mu);
            return 0;
        }
    char path[sizeof TZ_DIR + TZ_NAME_MAX + 1];
    snprintf(path, sizeof path, "%s%s", TZ_DIR, name);
    FILE *f = fopen(path, "rb");
    unsigned char *buf = f ? cd_malloc(TZ_FILE_MAX) : NULL;
    size_t n = buf ? fread(buf, 1, TZ_FILE_MAX, f) : 0;
    if (f)
        fclose(f);
    tz *z = NULL;
    int rc = buf ? tz_parse(buf, n, &z) : f ? CD_ENOMEM : CD_ENOTFOUND;
    cd_free(buf);
    cached *c = rc ? NULL : cd_calloc(1, sizeof *c);
    if (!rc && !c) {
        tz_free(z);
        rc = CD_ENOMEM;
    }
    if (!rc) {
        snprintf(c->name, sizeof c->name, "%s", name);
        c->z = z;
        c->next = cache;
        cache = c;
        *out = z;
    }
    pthread_mutex_unlock(&cache_mu);
    return rc;
}

/* tz.h - IANA time zones from the system's zoneinfo (TZif files, as in
 * /usr/share/zoneinfo), for clocks that follow a client's local time.
 *
 * A zone is loaded once and shared: tz_get returns the same immutable zone
 * for the same name for the life of the process (thread-safe). Instants
 * are UTC epoch seconds or milliseconds; offsets are seconds east of UTC.
 * Beyond the last transition a file lists, the POSIX rule at its end
 * ("EST5EDT,M3.2.0,M11.1.0") gives the offset, so far-future dates follow
 * the current daylight-saving rules. */
#ifndef TZ_H
#define TZ_H

#include <stdint.h>

typedef struct tz tz;

/* The zone named like "Europe/Berlin" or "UTC". CD_EINVAL for a name that
 * is not a zone name (empty, "..", odd characters), CD_ENOTFOUND when the
 * system has no such zone or its file is not a valid TZif file. */
int tz_get(const char *name, const tz **out);

/* Loads from a TZif image in memory (not cached; free with tz_free). */
int tz_parse(const unsigned char *data, uint64_t len, tz **out);
void tz_free(tz *z);

/* The zone's UTC offset at instant t (seconds). */
int32_t tz_offset(const tz *z, int64_t t);

/* The first instant (epoch ms) of the local calendar day that holds the
 * instant t_ms. When that day's midnight does not exist (a clock change at
 * 00:00), the day starts at the change. */
int64_t tz_day_start_ms(const tz *z, int64_t t_ms);

/* The first instant after t (seconds) at which the zone's offset changes;
 * INT64_MAX when it never changes again. Entries of the zone file that
 * change only the abbreviation or the daylight flag are not changes. */
int64_t tz_next_change(const tz *z, int64_t t);

/* The last instant <= t at which the offset changed (the offset at t holds
 * from there on); INT64_MIN when it never changed before. */
int64_t tz_prev_change(const tz *z, int64_t t);

/* Local wall-clock time to UTC (both seconds since the epoch): the first
 * instant at which the zone's clock shows `local` or later. A time skipped
 * by a clock change (spring forward) maps to the change itself; a time that
 * occurs twice (fall back) maps to its first occurrence. Non-decreasing in
 * `local`. */
int64_t tz_local_to_utc(const tz *z, int64_t local);

/* Days since 1970-01-01 of a civil date, and back (proleptic Gregorian). */
int64_t tz_days_from_civil(int64_t y, unsigned m, unsigned d);
void tz_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

#endif

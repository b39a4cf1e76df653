/* cd_err.h - the error codes every caredesk module returns.
 *
 * Functions return int: 0 on success, a negative CD_E* code on failure.
 * Backends map their own errors (SQLite result codes, PostgreSQL SQLSTATEs)
 * onto these, so callers never see a backend-specific code. */
#ifndef CD_ERR_H
#define CD_ERR_H

enum {
    CD_OK = 0,
    CD_ENOMEM = -1,     /* allocation failed */
    CD_EINVAL = -2,     /* input malformed or invalid */
    CD_ENOTFOUND = -3,  /* no such row, or a row the caller may not see */
    CD_ECONFLICT = -4,  /* unique key taken, stale version */
    CD_EFORBIDDEN = -5, /* caller's role may not do this */
    CD_EBUSY = -6,      /* database locked or serialization failure; retry */
    CD_EIO = -7,        /* backend or system failure */
    CD_ETOOBIG = -8,    /* body or field over its limit */
    CD_EAUTH = -9,      /* not authenticated */
    CD_ERATE = -10,     /* rate limit reached */
    CD_ESTATE = -11,    /* valid request the current state does not allow */
};

/* Returns a short stable name for an error code ("not_found", ...). */
const char *cd_strerror(int err);

#endif

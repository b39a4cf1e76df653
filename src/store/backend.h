/* backend.h - what a database backend provides to the store (internal).
 *
 * store.c holds every query and every tenant check; a backend only runs SQL.
 * SQL is written once, portably, with positional parameters $1..$n (the
 * SQLite backend rewrites them to ?1..?n). Rows come back as JSON objects
 * keyed by column name: integers as JSON integers, reals as reals, NULL as
 * null, everything else as strings. */
#ifndef STORE_BACKEND_H
#define STORE_BACKEND_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store_conn store_conn;

typedef struct store_backend {
    const char *name;      /* "sqlite" or "postgresql" */
    const char *id_column; /* DDL for an auto-increment 64-bit primary key */

    /* Opens one connection. target is a file path (sqlite) or a libpq URL.
     * On failure writes a message into err and returns CD_EIO. */
    int (*connect)(const char *target, store_conn **out, char *err, size_t errlen);
    /* Closes a connection; NULL is a no-op. */
    void (*disconnect)(store_conn *c);

    /* Runs one statement. params: JSON array (borrowed) of null, integer,
     * real, string, true or false; may be NULL for none. rows_out, if not
     * NULL, receives a new JSON array of row objects (caller decrefs).
     * changes_out, if not NULL, receives the number of rows changed.
     * Returns 0 or a CD_E* code (unique violation -> CD_ECONFLICT,
     * lock or serialization failure -> CD_EBUSY, other constraint and data
     * errors -> CD_EINVAL, a wrong parameter count -> CD_EINVAL, everything
     * else -> CD_EIO). A failed statement inside a transaction aborts the
     * whole transaction on both backends, as PostgreSQL does: later
     * statements fail with CD_EIO and commit rolls back. Use ON CONFLICT DO
     * NOTHING where a conflict is expected. PostgreSQL infers parameter
     * types from the SQL, so a bare "SELECT $1" returns text. */
    int (*exec)(store_conn *c, const char *sql, json_t *params, json_t **rows_out,
                int64_t *changes_out);
    /* Runs a script of several statements without parameters (migrations). */
    int (*exec_script)(store_conn *c, const char *sql);

    /* Transactions. write != 0 asks for a write transaction (SQLite takes the
     * write lock at once). commit returns only once the transaction is
     * durable on disk. */
    int (*begin)(store_conn *c, int write);
    int (*commit)(store_conn *c);
    int (*rollback)(store_conn *c);

    /* The last error message of this connection; borrowed until next call. */
    const char *(*errmsg)(store_conn *c);
} store_backend;

extern const store_backend store_sqlite_backend;
extern const store_backend store_pg_backend;

#endif

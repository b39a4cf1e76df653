/* store_pg.c - the PostgreSQL store backend (libpq).
 *
 * One store_conn wraps one PGconn, used by one thread at a time. SQL is
 * already in PostgreSQL's $1..$n form; parameters go as text and untyped,
 * so the server infers their types from the statement (booleans go as 1/0
 * because the schema stores booleans in integer columns). Results come
 * back as text and are turned into JSON by column type OID.
 *
 * Commits are durable because the server's synchronous_commit defaults to
 * on. Numbers are formatted and parsed with printf/strtod, which assumes
 * the C numeric locale (the program never calls setlocale). */
#include "store/backend.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs from the server's pg_type.dat; stable across versions. */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_NUMERIC = 1700,
};

#define MAX_PARAMS 65535 /* the protocol's limit */
#define NUM_LEN 32       /* fits any int64 and any %.17g double */

struct store_conn {
    PGconn *pg;
    int in_tx;     /* between begin and commit/rollback */
    int tx_failed; /* a statement failed inside it: see tx_aborted */
    char err[512];
};

__attribute__((format(printf, 2, 3))) static void set_err(store_conn *c, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    /* libpq's own messages span lines; keep ours on one. */
    for (n = 0; c->err[n]; n++)
        if (c->err[n] == '\n' || c->err[n] == '\t')
            c->err[n] = ' ';
    while (n > 0 && c->err[n - 1] == ' ')
        c->err[--n] = '\0';
}

static int map_sqlstate(const char *state)
{
    if (!state || strlen(state) != 5)
        return CD_EIO; /* client-side failure, e.g. connection lost */
    if (strcmp(state, "23505") == 0)
        return CD_ECONFLICT;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
        return CD_EBUSY;
    if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
        return CD_EINVAL;
    /* protocol_violation on a live connection: we never speak the protocol
     * by hand, so it is a parameter count that does not match the SQL. */
    if (strcmp(state, "08P01") == 0)
        return CD_EINVAL;
    return CD_EIO;
}

/* One line, like SQLite's: the primary message, then the detail if any. */
static void set_result_err(store_conn *c, const PGresult *res)
{
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

    if (!primary)
        set_err(c, "%s", PQresultErrorMessage(res)); /* client-side error */
    else if (detail)
        set_err(c, "%s (%s)", primary, detail);
    else
        set_err(c, "%s", primary);
}

/* 0 if res succeeded; else records the message and maps the error. */
static int check_result(store_conn *c, const PGresult *res)
{
    if (!res) {
        set_err(c, "%s", PQerrorMessage(c->pg));
        return CD_EIO;
    }
    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        return 0;
    case PGRES_FATAL_ERROR:
        set_result_err(c, res);
        if (PQstatus(c->pg) != CONNECTION_OK)
            return CD_EIO;
        return map_sqlstate(PQresultErrorField(res, PG_DIAG_SQLSTATE));
    default:
        set_err(c, "unsupported result: %s", PQresStatus(PQresultStatus(res)));
        return CD_EIO;
    }
}

/* Runs a parameterless command and checks it. */
static int command(store_conn *c, const char *sql, PGresult **res_out)
{
    PGresult *res = PQexec(c->pg, sql);
    int rc = check_result(c, res);

    if (rc != 0 || !res_out)
        PQclear(res);
    else
        *res_out = res;
    return rc;
}

/* Per-session settings, after connecting and after a reset. */
static int session_init(store_conn *c)
{
    if (PQsetClientEncoding(c->pg, "UTF8") != 0) {
        set_err(c, "could not set client encoding: %s", PQerrorMessage(c->pg));
        return CD_EIO;
    }
    return command(c, "SET client_min_messages = warning", NULL);
}

/* A connection lost between transactions is reopened once, quietly; one
 * lost inside a transaction is not, since the transaction is gone. */
static int ensure_connected(store_conn *c)
{
    if (PQstatus(c->pg) == CONNECTION_OK)
        return 0;
    if (c->in_tx) {
        set_err(c, "connection to the server lost inside a transaction");
        return CD_EIO;
    }
    PQreset(c->pg);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        set_err(c, "%s", PQerrorMessage(c->pg));
        return CD_EIO;
    }
    return session_init(c) != 0 ? CD_EIO : 0;
}

/* ------------------------------------------------------------------------
 * Parameters: JSON values as text.
 * ---------------------------------------------------------------------- */

typedef struct text_params {
    int n;
    const char **values; /* NULL entries are SQL NULL */
    char *numbers;       /* n slots of NUM_LEN for formatted numbers */
} text_params;

/* Shortest %g form that reads back as the same double. */
static void format_real(double d, char *buf, size_t len)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

static int param_text(store_conn *c, int i, json_t *v, char *num, const char **out)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        *out = NULL;
        return 0;
    case JSON_INTEGER:
        snprintf(num, NUM_LEN, "%" PRId64, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        format_real(json_real_value(v), num, NUM_LEN);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        snprintf(num, NUM_LEN, "%d", json_is_true(v));
        break;
    case JSON_STRING:
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            set_err(c, "parameter $%d: string contains NUL", i + 1);
            return CD_EINVAL;
        }
        *out = json_string_value(v); /* borrowed from params */
        return 0;
    default:
        set_err(c, "parameter $%d: arrays and objects are not SQL values", i + 1);
        return CD_EINVAL;
    }
    *out = num;
    return 0;
}

static void params_cleanup(text_params *p)
{
    cd_free(p->values);
    cd_free(p->numbers);
}

static int params_init(store_conn *c, json_t *params, text_params *p)
{
    size_t n = params ? json_array_size(params) : 0;
    int rc = 0;

    *p = (text_params){0};
    if (params && !json_is_array(params)) {
        set_err(c, "params must be a JSON array");
        return CD_EINVAL;
    }
    if (n > MAX_PARAMS) {
        set_err(c, "%zu parameters, at most %d allowed", n, MAX_PARAMS);
        return CD_EINVAL;
    }
    if (n == 0)
        return 0;
    p->n = (int)n;
    p->values = cd_calloc(n, sizeof *p->values);
    p->numbers = cd_malloc(n * NUM_LEN);
    if (!p->values || !p->numbers)
        rc = CD_ENOMEM;
    for (int i = 0; rc == 0 && i < p->n; i++)
        rc = param_text(c, i, json_array_get(params, (size_t)i), p->numbers + (size_t)i * NUM_LEN,
                        &p->values[i]);
    if (rc != 0)
        params_cleanup(p);
    return rc;
}

/* ------------------------------------------------------------------------
 * Rows: text results to JSON by column type.
 * ---------------------------------------------------------------------- */

/* jansson refuses invalid UTF-8 and failed allocations alike; with
 * client_encoding UTF8 only the latter can happen. */
static int text_value(const char *s, size_t n, json_t **out)
{
    *out = json_stringn(s, n);
    return *out ? 0 : CD_ENOMEM;
}

static int field_value(const PGresult *res, int r, int f, json_t **out)
{
    const char *s = PQgetvalue(res, r, f);
    double d;

    if (PQgetisnull(res, r, f)) {
        *out = json_null();
        return 0;
    }
    switch (PQftype(res, f)) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
        *out = json_integer((json_int_t)strtoll(s, NULL, 10));
        break;
    case OID_BOOL:
        *out = json_integer(s[0] == 't');
        break;
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC:
        /* NaN and Infinity have no JSON number; they stay strings. */
        d = strtod(s, NULL);
        if (!isfinite(d))
            return text_value(s, (size_t)PQgetlength(res, r, f), out);
        *out = json_real(d);
        break;
    default:
        return text_value(s, (size_t)PQgetlength(res, r, f), out);
    }
    return *out ? 0 : CD_ENOMEM;
}

static int row_build(const PGresult *res, int r, json_t **out)
{
    json_t *row = json_object();
    json_t *v;
    int rc;

    if (!row)
        return CD_ENOMEM;
    for (int f = 0; f < PQnfields(res); f++) {
        rc = field_value(res, r, f, &v);
        if (rc != 0)
            goto err_row;
        rc = CD_ENOMEM;
        if (json_object_set_new(row, PQfname(res, f), v) != 0) /* frees v */
            goto err_row;
    }
    *out = row;
    return 0;

err_row:
    json_decref(row);
    return rc;
}

static int rows_build(const PGresult *res, json_t **out)
{
    json_t *rows = json_array();
    json_t *row = NULL;
    int rc = 0;

    if (!rows)
        return CD_ENOMEM;
    for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
        rc = row_build(res, r, &row);
        if (rc == 0 && json_array_append_new(rows, row) != 0)
            rc = CD_ENOMEM;
    }
    if (rc != 0) {
        json_decref(rows);
        return rc;
    }
    *out = rows;
    return 0;
}

/* Rows changed: PQcmdTuples also counts the rows a SELECT returned. */
static int64_t changes_of(PGresult *res)
{
    if (strncmp(PQcmdStatus(res), "SELECT", 6) == 0)
        return 0;
    return strtoll(PQcmdTuples(res), NULL, 10);
}

/* ------------------------------------------------------------------------
 * Backend operations.
 * ---------------------------------------------------------------------- */

/* After an error inside a transaction the server refuses every statement
 * until ROLLBACK (25P02). The same is enforced here for errors found on
 * this side (a bad parameter), so a transaction always fails as a whole,
 * on both backends. */
static int tx_aborted(store_conn *c)
{
    set_err(c, "current transaction is aborted by an earlier error; roll it back");
    return CD_EIO;
}

static int exec_params(store_conn *c, const char *sql, json_t *params, json_t **rows_out,
                       int64_t *changes_out)
{
    text_params p;
    PGresult *res;
    int rc = ensure_connected(c);

    if (rc != 0)
        return rc;
    rc = params_init(c, params, &p);
    if (rc != 0)
        return rc;
    res = PQexecParams(c->pg, sql, p.n, NULL, p.values, NULL, NULL, 0);
    rc = check_result(c, res);
    if (rc == 0 && rows_out)
        rc = rows_build(res, rows_out);
    if (rc == 0 && changes_out)
        *changes_out = changes_of(res);
    PQclear(res);
    params_cleanup(&p);
    return rc;
}

static int pg_exec(store_conn *c, const char *sql, json_t *params, json_t **rows_out,
                   int64_t *changes_out)
{
    int rc;

    if (rows_out)
        *rows_out = NULL;
    if (changes_out)
        *changes_out = 0;
    if (c->tx_failed)
        return tx_aborted(c);
    rc = exec_params(c, sql, params, rows_out, changes_out);
    c->tx_failed = rc != 0 && c->in_tx;
    return rc;
}

static int pg_exec_script(store_conn *c, const char *sql)
{
    int rc;

    if (c->tx_failed)
        return tx_aborted(c);
    rc = ensure_connected(c);
    if (rc == 0)
        rc = command(c, sql, NULL);
    c->tx_failed = rc != 0 && c->in_tx;
    return rc;
}

static int pg_begin(store_conn *c, int write)
{
    int rc;

    (void)write; /* READ COMMITTED either way: rows lock as they are written */
    if (c->in_tx) {
        set_err(c, "a transaction is already open on this connection");
        return CD_EIO;
    }
    rc = ensure_connected(c);
    if (rc == 0)
        rc = command(c, "BEGIN", NULL);
    c->in_tx = rc == 0;
    c->tx_failed = 0;
    return rc;
}

static int pg_rollback(store_conn *c)
{
    c->in_tx = 0;
    c->tx_failed = 0;
    /* Nothing to roll back (also spares the server's WARNING), or the
     * connection is gone and the server rolled back for us. */
    if (PQtransactionStatus(c->pg) == PQTRANS_IDLE || PQstatus(c->pg) != CONNECTION_OK)
        return 0;
    return command(c, "ROLLBACK", NULL);
}

/* The server answers COMMIT of a failed transaction with "ROLLBACK":
 * nothing was committed, and the caller must hear it. */
static int pg_commit(store_conn *c)
{
    PGresult *res = NULL;
    int rc;

    if (c->tx_failed) {
        pg_rollback(c);
        set_err(c, "transaction was aborted by an earlier error; COMMIT rolled back");
        return CD_EIO;
    }
    rc = command(c, "COMMIT", &res);
    c->in_tx = 0; /* a COMMIT ends the transaction even when it fails */
    if (rc == 0 && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        set_err(c, "transaction was aborted by an earlier error; COMMIT rolled back");
        rc = CD_EIO;
    }
    PQclear(res);
    return rc;
}

static const char *pg_errmsg(store_conn *c)
{
    return c->err;
}

static void pg_disconnect(store_conn *c)
{
    if (!c)
        return;
    PQfinish(c->pg);
    cd_free(c);
}

static int pg_connect(const char *target, store_conn **out, char *err, size_t errlen)
{
    store_conn *c = cd_calloc(1, sizeof *c);

    *out = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return CD_EIO;
    }
    c->pg = PQconnectdb(target);
    if (!c->pg) {
        set_err(c, "out of memory");
        goto err_conn;
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        set_err(c, "%s", PQerrorMessage(c->pg));
        goto err_conn;
    }
    if (session_init(c) != 0)
        goto err_conn;
    *out = c;
    return 0;

err_conn:
    snprintf(err, errlen, "%s", c->err);
    pg_disconnect(c);
    return CD_EIO;
}

const store_backend store_pg_backend = {
    .name = "postgresql",
    .id_column = "BIGSERIAL PRIMARY KEY",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .exec = pg_exec,
    .exec_script = pg_exec_script,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .errmsg = pg_errmsg,
};

/* store.c - opening the store, the connection pool, transactions,
 * migrations and the helpers every store file uses. */
#include "store/store_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "store/migrations.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void store_ctx_system(store_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    strcpy(ctx->role, "admin");
    ctx->all_clients = 1;
}

static const store_backend *backend_for(const char *target)
{
    if (strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0)
        return &store_pg_backend;
    return &store_sqlite_backend;
}

int store_open(const char *target, int pool, store **out, char *err, size_t errlen)
{
    store *s = cd_calloc(1, sizeof *s);
    int rc = CD_ENOMEM;

    if (!s)
        return CD_ENOMEM;
    if (pool < 1)
        pool = 1;
    s->be = backend_for(target);
    s->target = cd_strdup(target);
    s->idle = cd_calloc((size_t)pool, sizeof *s->idle);
    if (!s->target || !s->idle)
        goto fail;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    for (int i = 0; i < pool; i++) {
        rc = s->be->connect(target, &s->idle[i], err, errlen);
        if (rc)
            goto fail;
        s->nidle = s->size = i + 1;
    }
    *out = s;
    return 0;
fail:
    store_close(s);
    return rc;
}

void store_close(store *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nidle; i++)
        s->be->disconnect(s->idle[i]);
    if (s->idle) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
    }
    cd_free(s->idle);
    cd_free(s->target);
    cd_free(s);
}

const char *store_backend_name(const store *s)
{
    return s->be->name;
}

static store_conn *conn_acquire(store *s)
{
    store_conn *c;
    pthread_mutex_lock(&s->mu);
    while (s->nidle == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    c = s->idle[--s->nidle];
    pthread_mutex_unlock(&s->mu);
    return c;
}

static void conn_release(store *s, store_conn *c)
{
    pthread_mutex_lock(&s->mu);
    s->idle[s->nidle++] = c;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void store_set_importing(store *s, int on)
{
    s->importing = on;
}

unsigned store_tx_effects(const store_tx *tx)
{
    return tx ? tx->effects : 0;
}

int store_begin(store *s, const store_ctx *ctx, int64_t now_ms, int write, store_tx **out)
{
    store_tx *tx = cd_calloc(1, sizeof *tx);
    int rc;

    if (!tx)
        return CD_ENOMEM;
    tx->s = s;
    tx->ctx = *ctx;
    tx->now = now_ms;
    tx->write = write;
    tx->c = conn_acquire(s);
    rc = s->be->begin(tx->c, write);
    if (rc) {
        conn_release(s, tx->c);
        cd_free(tx);
        return rc;
    }
    *out = tx;
    return 0;
}

static void tx_end(store_tx *tx)
{
    conn_release(tx->s, tx->c);
    json_decref(tx->settings);
    json_decref(tx->pushes);
    cd_free(tx);
}

int store_commit(store_tx *tx)
{
    int rc = json_array_size(tx->pushes) ? store_push_append(tx, tx->pushes) : 0;
    if (!rc)
        rc = tx->s->be->commit(tx->c);
    if (rc)
        tx->s->be->rollback(tx->c);
    tx_end(tx);
    return rc;
}

void store_rollback(store_tx *tx)
{
    if (!tx)
        return;
    tx->s->be->rollback(tx->c);
    tx_end(tx);
}

const char *store_err_field(const store_tx *tx)
{
    return tx->err_field;
}

const char *store_err_message(const store_tx *tx)
{
    return tx->err_msg;
}

int store__fail(store_tx *tx, int err, const char *field, const char *fmt, ...)
{
    va_list ap;
    snprintf(tx->err_field, sizeof tx->err_field, "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(tx->err_msg, sizeof tx->err_msg, fmt, ap);
    va_end(ap);
    return err;
}

/* A statement with placeholders but no parameter list means json_pack
 * failed (out of memory, or a NULL string where one was required). */
static int params_missing(const char *sql, json_t *params)
{
    return !params && strchr(sql, '$');
}

int store__q(store_tx *tx, const char *sql, json_t *params, json_t **rows)
{
    if (params_missing(sql, params))
        return store__fail(tx, CD_EINVAL, "", "a required value is missing");
    int rc = tx->s->be->exec(tx->c, sql, params, rows, NULL);
    if (rc == CD_EIO)
        fprintf(stderr, "store: %s: %s\n", tx->s->be->name, tx->s->be->errmsg(tx->c));
    json_decref(params);
    return rc;
}

int store__exec(store_tx *tx, const char *sql, json_t *params, int64_t *changes)
{
    if (params_missing(sql, params))
        return store__fail(tx, CD_EINVAL, "", "a required value is missing");
    int rc = tx->s->be->exec(tx->c, sql, params, NULL, changes);
    if (rc == CD_EIO)
        fprintf(stderr, "store: %s: %s\n", tx->s->be->name, tx->s->be->errmsg(tx->c));
    json_decref(params);
    return rc;
}

int store__q1(store_tx *tx, const char *sql, json_t *params, json_t **row)
{
    json_t *rows = NULL;
    int rc = store__q(tx, sql, params, &rows);
    if (rc)
        return rc;
    if (json_array_size(rows) == 0) {
        json_decref(rows);
        return CD_ENOTFOUND;
    }
    *row = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return 0;
}

int store__allows(const store_tx *tx, int64_t client_id)
{
    if (tx->ctx.all_clients)
        return 1;
    for (size_t i = 0; i < tx->ctx.nclients; i++)
        if (tx->ctx.clients[i] == client_id)
            return 1;
    return 0;
}

const store_ctx *store_tx_ctx(const store_tx *tx)
{
    return &tx->ctx;
}

int store__get_visible(store_tx *tx, const char *sql, int64_t id, json_t **row)
{
    int rc = store__q1(tx, sql, json_pack("[I]", (json_int_t)id), row);
    if (rc)
        return rc;
    if (!store__allows(tx, store__int(*row, "client_id"))) {
        json_decref(*row);
        *row = NULL;
        return CD_ENOTFOUND;
    }
    return 0;
}

int store__client_check(store_tx *tx, int64_t client_id)
{
    json_t *row = NULL;
    int rc;
    if (client_id <= 0 || !store__allows(tx, client_id))
        return store__fail(tx, CD_ENOTFOUND, "client_id", "no such client");
    if (!tx->ctx.all_clients)
        return 0; /* a membership row references an existing client */
    rc = store__q1(tx, "SELECT id FROM clients WHERE id = $1",
                   json_pack("[I]", (json_int_t)client_id), &row);
    json_decref(row);
    if (rc == CD_ENOTFOUND)
        return store__fail(tx, CD_ENOTFOUND, "client_id", "no such client");
    return rc;
}

int store_tx_authenticate(store_tx *tx, int64_t user_id, const char *role)
{
    store_ctx *ctx = &tx->ctx;
    json_t *rows = NULL, *row;
    size_t i;
    int rc = store__q(tx, "SELECT client_id FROM memberships WHERE user_id = $1 ORDER BY client_id",
                      json_pack("[I]", (json_int_t)user_id), &rows);
    if (rc)
        return rc;
    ctx->user_id = user_id;
    snprintf(ctx->role, sizeof ctx->role, "%s", role);
    ctx->all_clients = strcmp(role, "admin") == 0;
    ctx->nclients = 0;
    json_array_foreach (rows, i, row) {
        if (ctx->nclients < STORE_MAX_CLIENTS)
            ctx->clients[ctx->nclients++] = json_integer_value(json_object_get(row, "client_id"));
    }
    json_decref(rows);
    return 0;
}

/* --- statement builder ------------------------------------------------ */

void store__sqlb_init(sqlb *b, const char *start)
{
    memset(b, 0, sizeof *b);
    b->params = json_array();
    if (!b->params)
        b->failed = 1;
    store__sqlb_add(b, start);
}

void store__sqlb_add(sqlb *b, const char *text)
{
    size_t n = strlen(text);
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256) + n;
        char *p = cd_realloc(b->sql, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->sql = p;
        b->cap = cap;
    }
    memcpy(b->sql + b->len, text, n + 1);
    b->len += n;
}

void store__sqlb_param(sqlb *b, const char *text, json_t *val)
{
    char num[16];
    const char *mark = strstr(text, "$?");
    if (!val || !mark || b->failed) {
        json_decref(val);
        b->failed = 1;
        return;
    }
    json_array_append_new(b->params, val);
    snprintf(num, sizeof num, "$%zu", json_array_size(b->params));
    char *head = cd_strndup(text, (size_t)(mark - text));
    if (!head) {
        b->failed = 1;
        return;
    }
    store__sqlb_add(b, head);
    store__sqlb_add(b, num);
    store__sqlb_add(b, mark + 2);
    cd_free(head);
}

void store__sqlb_tenant(sqlb *b, const store_tx *tx, const char *column)
{
    char buf[32];
    if (tx->ctx.all_clients)
        return;
    if (tx->ctx.nclients == 0) {
        store__sqlb_add(b, " AND 1 = 0");
        return;
    }
    store__sqlb_add(b, " AND ");
    store__sqlb_add(b, column);
    store__sqlb_add(b, " IN (");
    for (size_t i = 0; i < tx->ctx.nclients; i++) {
        /* Integers from our own context, not caller text: safe to inline. */
        snprintf(buf, sizeof buf, "%s%" PRId64, i ? "," : "", tx->ctx.clients[i]);
        store__sqlb_add(b, buf);
    }
    store__sqlb_add(b, ")");
}

int store__sqlb_run(store_tx *tx, sqlb *b, json_t **rows)
{
    int rc = b->failed ? CD_ENOMEM : store__q(tx, b->sql, json_incref(b->params), rows);
    store__sqlb_cleanup(b);
    return rc;
}

void store__sqlb_cleanup(sqlb *b)
{
    cd_free(b->sql);
    json_decref(b->params);
    memset(b, 0, sizeof *b);
}

/* --- pages, columns, small getters ------------------------------------ */

int64_t store__int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

const char *store__str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

int store__page_args(store_tx *tx, json_t *query, int64_t *before_id, int64_t *limit)
{
    const char *cursor = store__str(query, "cursor");
    *limit = store__int(query, "limit");
    if (*limit <= 0)
        *limit = 50;
    if (*limit > 200)
        return store__fail(tx, CD_EINVAL, "limit", "limit must be between 1 and 200");
    *before_id = INT64_MAX;
    if (cursor && *cursor) {
        char *end;
        long long v = strtoll(cursor, &end, 10);
        if (*end || v <= 0)
            return store__fail(tx, CD_EINVAL, "cursor", "cursor is not valid");
        *before_id = v;
    }
    return 0;
}

int store__list_start(store_tx *tx, json_t *query, const char *select, const char *key, sqlb *b,
                      int64_t *limit)
{
    int64_t before, client = store__int(query, "client_id");
    char cond[64];
    int rc = store__page_args(tx, query, &before, limit);
    if (!rc && client)
        rc = store__client_check(tx, client);
    if (rc)
        return rc;
    store__sqlb_init(b, select);
    snprintf(cond, sizeof cond, " WHERE %s < $?", key);
    store__sqlb_param(b, cond, json_integer(before));
    return 0;
}

int store__list_finish(store_tx *tx, sqlb *b, const char *tenant_column, const char *key,
                       int64_t limit, json_t **rows)
{
    char order[64];
    if (tenant_column)
        store__sqlb_tenant(b, tx, tenant_column);
    snprintf(order, sizeof order, " ORDER BY %s DESC LIMIT $?", key);
    store__sqlb_param(b, order, json_integer(limit + 1));
    return store__sqlb_run(tx, b, rows);
}

json_t *store__page(json_t *rows, int64_t limit)
{
    json_t *next = json_null();
    if ((int64_t)json_array_size(rows) > limit) {
        char buf[24];
        json_array_remove(rows, (size_t)limit);
        json_t *last = json_array_get(rows, (size_t)limit - 1);
        snprintf(buf, sizeof buf, "%" PRId64, store__int(last, "id"));
        next = json_string(buf);
    }
    return json_pack("{s:o, s:o}", "items", rows, "next_cursor", next);
}

void store__parse_column(json_t *row, const char *column, const char *fallback)
{
    const char *text = store__str(row, column);
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    if (!v)
        v = json_loads(fallback, JSON_DECODE_ANY, NULL);
    json_object_set_new(row, column, v);
}

/* --- migrations ------------------------------------------------------- */

static char *expand_ddl(const char *sql, const char *id_column)
{
    const char *token = "@ID@";
    size_t n = 0, tl = strlen(token), il = strlen(id_column);
    for (const char *p = sql; (p = strstr(p, token)); p += tl)
        n++;
    char *out = cd_malloc(strlen(sql) + n * il + 1), *w = out;
    if (!out)
        return NULL;
    for (const char *p = sql, *q; *p; p = q + tl) {
        q = strstr(p, token);
        if (!q) {
            strcpy(w, p);
            return out;
        }
        memcpy(w, p, (size_t)(q - p));
        w += q - p;
        memcpy(w, id_column, il);
        w += il;
    }
    *w = '\0';
    return out;
}

static int migration_applied(store *s, store_conn *c, const char *name, int *applied)
{
    json_t *rows = NULL, *params = json_pack("[s]", name);
    int rc = params ? s->be->exec(c, "SELECT name FROM schema_migrations WHERE name = $1", params,
                                  &rows, NULL)
                    : CD_ENOMEM;
    *applied = json_array_size(rows) > 0;
    json_decref(rows);
    json_decref(params);
    return rc;
}

static int migrate_one(store *s, store_conn *c, const store_migration *m)
{
    char *ddl = expand_ddl(m->sql, s->be->id_column);
    json_t *params = json_pack("[s]", m->name);
    int rc = CD_ENOMEM;

    if (!ddl || !params)
        goto out;
    rc = s->be->begin(c, 1);
    if (rc)
        goto out;
    rc = s->be->exec_script(c, ddl);
    if (!rc)
        rc = s->be->exec(c, "INSERT INTO schema_migrations (name) VALUES ($1)", params, NULL, NULL);
    if (!rc)
        rc = s->be->commit(c);
    if (rc) {
        fprintf(stderr, "migrate %s: %s\n", m->name, s->be->errmsg(c));
        s->be->rollback(c);
    }
out:
    json_decref(params);
    cd_free(ddl);
    return rc;
}

int store_migrate(store *s, int *applied)
{
    store_conn *c = conn_acquire(s);
    int rc, done = 0, have;

    rc = s->be->exec_script(c, "CREATE TABLE IF NOT EXISTS schema_migrations "
                               "(name TEXT PRIMARY KEY)");
    for (const store_migration *m = store_migrations; !rc && m->name; m++) {
        rc = migration_applied(s, c, m->name, &have);
        if (!rc && !have) {
            rc = migrate_one(s, c, m);
            done += rc == 0;
        }
    }
    conn_release(s, c);
    if (applied)
        *applied = done;
    return rc;
}

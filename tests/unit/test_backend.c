/* test_backend.c - conformance tests for the store backends.
 *
 * Every test function runs twice: against SQLite on a temporary file and
 * against PostgreSQL on a throwaway cluster that the test starts with
 * tests/pg/cluster.sh (found under $CAREDESK_SRC, default ".") and stops at
 * the end. Whatever store.c may rely on is asserted here for both, so the
 * backends cannot drift apart. CAREDESK_SKIP_PG=1 skips the PostgreSQL
 * run on machines without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "store/backend.h"

#include <pthread.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define THREADS 8
#define TXNS_PER_THREAD 200

typedef struct fixture {
    const store_backend *be;
    char dir[128];     /* temp dir: the SQLite file or the cluster */
    char target[256];  /* what connect() takes */
    store_conn *c;     /* the current test's connection */
} fixture;

/* ------------------------------------------------------------------------
 * Helpers.
 * ---------------------------------------------------------------------- */

static store_conn *open_conn(fixture *fx)
{
    char err[256] = "";
    store_conn *c = NULL;
    int rc = fx->be->connect(fx->target, &c, err, sizeof err);

    if (rc != 0)
        fail_msg("connect %s: %s", fx->target, err);
    return c;
}

/* Runs sql and asserts it succeeds; returns the rows (caller decrefs). */
static json_t *query(fixture *fx, const char *sql, json_t *params)
{
    json_t *rows = NULL;
    int rc = fx->be->exec(fx->c, sql, params, &rows, NULL);

    if (rc != 0)
        fail_msg("%s: %s (%s)", sql, cd_strerror(rc), fx->be->errmsg(fx->c));
    assert_true(json_is_array(rows));
    return rows;
}

/* Runs sql with params and asserts the result code; steals params. */
static void exec_expect(fixture *fx, const char *sql, json_t *params, int want)
{
    int rc = fx->be->exec(fx->c, sql, params, NULL, NULL);

    json_decref(params);
    if (rc != want)
        fail_msg("%s: got %s, want %s (%s)", sql, cd_strerror(rc), cd_strerror(want),
                 fx->be->errmsg(fx->c));
}

static json_int_t count_rows(fixture *fx)
{
    json_t *rows = query(fx, "SELECT COUNT(*) AS n FROM t", NULL);
    json_int_t n = json_integer_value(json_object_get(json_array_get(rows, 0), "n"));

    json_decref(rows);
    return n;
}

static void insert_name(fixture *fx, const char *name, int want)
{
    exec_expect(fx, "INSERT INTO t (name) VALUES ($1)", json_pack("[s]", name), want);
}

/* Runs argv with stdout into out (first line, newline stripped). */
static int run_capture(char *const argv[], char *out, size_t outlen)
{
    posix_spawn_file_actions_t fa;
    int fds[2], status = -1;
    pid_t pid;
    ssize_t n;
    size_t len = 0;

    /* O_CLOEXEC: only the dup2'd stdout may reach the child, or the
     * server it leaves running would hold the pipe and read() never ends. */
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    while (len + 1 < outlen && (n = read(fds[0], out + len, outlen - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    out[strcspn(out, "\n")] = '\0';
    close(fds[0]);
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* cluster.sh start|stop DIR; start passes our pid, so that the cluster is
 * stopped even if this test is killed before its teardown. */
static int cluster(const char *cmd, const char *dir, char *out, size_t outlen)
{
    const char *src = getenv("CAREDESK_SRC");
    char script[512], pid[24];
    char *argv[] = {"/bin/bash", script, (char *)cmd, (char *)dir, pid, NULL};

    snprintf(script, sizeof script, "%s/tests/pg/cluster.sh", src && *src ? src : ".");
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    if (strcmp(cmd, "start") != 0)
        argv[4] = NULL;
    return run_capture(argv, out, outlen);
}

/* ------------------------------------------------------------------------
 * Fixtures: one group per backend, a fresh table t per test.
 * ---------------------------------------------------------------------- */

static int group_setup_sqlite(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);

    if (!fx)
        return -1;
    fx->be = &store_sqlite_backend;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/caredesk-test.XXXXXX");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    snprintf(fx->target, sizeof fx->target, "%s/test.db", fx->dir);
    *state = fx;
    return 0;
}

static int group_teardown_sqlite(void **state)
{
    fixture *fx = *state;
    const char *suffixes[] = {"", "-wal", "-shm"};
    char path[300];

    if (!fx)
        return 0;
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        snprintf(path, sizeof path, "%s%s", fx->target, suffixes[i]);
        unlink(path);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static int group_setup_pg(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);

    if (!fx)
        return -1;
    fx->be = &store_pg_backend;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/caredesk-pg.XXXXXX");
    if (!mkdtemp(fx->dir) || cluster("start", fx->dir, fx->target, sizeof fx->target) != 0 ||
        strncmp(fx->target, "postgresql://", 13) != 0) {
        fprintf(stderr, "could not start a PostgreSQL cluster in %s\n", fx->dir);
        cluster("stop", fx->dir, fx->target, sizeof fx->target);
        rmdir(fx->dir); /* still there if the script failed early */
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int group_teardown_pg(void **state)
{
    fixture *fx = *state;
    char out[64];
    int rc;

    if (!fx)
        return 0; /* setup failed and cleaned up */
    rc = cluster("stop", fx->dir, out, sizeof out);
    free(fx);
    return rc == 0 ? 0 : -1;
}

static int test_setup(void **state)
{
    fixture *fx = *state;
    char sql[512];

    fx->c = open_conn(fx);
    snprintf(sql, sizeof sql,
             "DROP TABLE IF EXISTS t;"
             "CREATE TABLE t (id %s, name TEXT UNIQUE, n BIGINT, r DOUBLE PRECISION,"
             " flag INTEGER, note TEXT NOT NULL DEFAULT '')",
             fx->be->id_column);
    if (fx->be->exec_script(fx->c, sql) != 0)
        fail_msg("schema: %s", fx->be->errmsg(fx->c));
    return 0;
}

static int test_teardown(void **state)
{
    fixture *fx = *state;

    fx->be->disconnect(fx->c);
    fx->c = NULL;
    return 0;
}

/* ------------------------------------------------------------------------
 * Tests.
 * ---------------------------------------------------------------------- */

static void insert_returning_id(void **state)
{
    fixture *fx = *state;
    json_t *p1 = json_pack("[s]", "a"), *p2 = json_pack("[s]", "b");
    json_t *r1 = query(fx, "INSERT INTO t (name) VALUES ($1) RETURNING id", p1);
    json_t *r2 = query(fx, "INSERT INTO t (name) VALUES ($1) RETURNING id", p2);
    json_t *id1 = json_object_get(json_array_get(r1, 0), "id");
    json_t *id2 = json_object_get(json_array_get(r2, 0), "id");

    assert_int_equal(json_array_size(r1), 1);
    assert_true(json_is_integer(id1));
    assert_true(json_is_integer(id2));
    assert_true(json_integer_value(id1) >= 1);
    assert_true(json_integer_value(id2) > json_integer_value(id1));
    json_decref(r1);
    json_decref(r2);
    json_decref(p1);
    json_decref(p2);
}

/* Inserts one row of (name, n, r, flag) and checks what comes back. */
static void roundtrip_row(fixture *fx, json_t *in, json_int_t want_flag)
{
    json_t *rows, *row, *key = json_pack("[O]", json_array_get(in, 0));

    exec_expect(fx, "INSERT INTO t (name, n, r, flag) VALUES ($1, $2, $3, $4)", json_incref(in),
                0);
    rows = query(fx, "SELECT name, n, r, flag FROM t WHERE name = $1", key);
    assert_int_equal(json_array_size(rows), 1);
    row = json_array_get(rows, 0);
    assert_string_equal(json_string_value(json_object_get(row, "name")),
                        json_string_value(json_array_get(in, 0)));
    assert_true(json_is_integer(json_object_get(row, "n")));
    assert_true(json_integer_value(json_object_get(row, "n")) ==
                json_integer_value(json_array_get(in, 1)));
    assert_true(json_is_real(json_object_get(row, "r")));
    assert_true(json_real_value(json_object_get(row, "r")) ==
                json_real_value(json_array_get(in, 2)));
    assert_true(json_integer_value(json_object_get(row, "flag")) == want_flag);
    json_decref(rows);
    json_decref(key);
}

static void params_every_type_roundtrip(void **state)
{
    fixture *fx = *state;
    json_t *max = json_pack("[s, I, f, b]", "max", (json_int_t)INT64_MAX, 0.1, 1);
    json_t *min = json_pack("[s, I, f, b]", "min", (json_int_t)INT64_MIN, -2.5e300, 0);
    json_t *odd = json_pack("[s, I, f, b]", "it's $1 \"q\"", (json_int_t)-1, 1e-300, 1);

    roundtrip_row(fx, max, 1);
    roundtrip_row(fx, min, 0);
    roundtrip_row(fx, odd, 1);
    json_decref(max);
    json_decref(min);
    json_decref(odd);
}

static void nulls_roundtrip(void **state)
{
    fixture *fx = *state;
    json_t *rows, *row;
    const char *cols[] = {"name", "n", "r", "flag"};

    exec_expect(fx, "INSERT INTO t (name, n, r, flag) VALUES ($1, $2, $3, $4)",
                json_pack("[n, n, n, n]"), 0);
    rows = query(fx, "SELECT name, n, r, flag FROM t", NULL);
    assert_int_equal(json_array_size(rows), 1);
    row = json_array_get(rows, 0);
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
        assert_true(json_is_null(json_object_get(row, cols[i])));
    json_decref(rows);
}

static void unicode_text_roundtrip(void **state)
{
    fixture *fx = *state;
    const char *text = "h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80";
    json_t *rows, *row;

    insert_name(fx, text, 0);
    rows = query(fx, "SELECT name, length(name) AS len FROM t", NULL);
    row = json_array_get(rows, 0);
    assert_string_equal(json_string_value(json_object_get(row, "name")), text);
    assert_int_equal(json_integer_value(json_object_get(row, "len")), 12); /* code points */
    json_decref(rows);
}

static void unique_violation_is_conflict(void **state)
{
    fixture *fx = *state;

    insert_name(fx, "dup", 0);
    insert_name(fx, "dup", CD_ECONFLICT);
    assert_true(strlen(fx->be->errmsg(fx->c)) > 0);
    assert_int_equal(count_rows(fx), 1);
}

static void not_null_violation_is_invalid(void **state)
{
    fixture *fx = *state;

    exec_expect(fx, "INSERT INTO t (name, note) VALUES ($1, $2)", json_pack("[s, n]", "x"),
                CD_EINVAL);
    assert_int_equal(count_rows(fx), 0);
}

static void rollback_discards(void **state)
{
    fixture *fx = *state;

    assert_int_equal(fx->be->begin(fx->c, 1), 0);
    insert_name(fx, "gone", 0);
    assert_int_equal(count_rows(fx), 1); /* visible inside the transaction */
    assert_int_equal(fx->be->rollback(fx->c), 0);
    assert_int_equal(count_rows(fx), 0);
}

static void commit_persists_across_reconnect(void **state)
{
    fixture *fx = *state;

    assert_int_equal(fx->be->begin(fx->c, 1), 0);
    insert_name(fx, "kept", 0);
    assert_int_equal(fx->be->commit(fx->c), 0);
    fx->be->disconnect(fx->c);
    fx->c = open_conn(fx);
    assert_int_equal(count_rows(fx), 1);
}

/* An error inside a transaction dooms all of it, on both backends: later
 * statements fail, commit rolls back and says so. */
static void error_aborts_transaction(void **state)
{
    fixture *fx = *state;

    assert_int_equal(fx->be->begin(fx->c, 1), 0);
    insert_name(fx, "first", 0);
    insert_name(fx, "first", CD_ECONFLICT);
    insert_name(fx, "second", CD_EIO);
    assert_int_equal(fx->be->commit(fx->c), CD_EIO);
    assert_true(strlen(fx->be->errmsg(fx->c)) > 0);
    assert_int_equal(count_rows(fx), 0);

    /* A parameter refused before reaching the database dooms it too. */
    assert_int_equal(fx->be->begin(fx->c, 1), 0);
    insert_name(fx, "third", 0);
    exec_expect(fx, "INSERT INTO t (name) VALUES ($1)", json_pack("[[]]"), CD_EINVAL);
    assert_int_equal(fx->be->commit(fx->c), CD_EIO);
    assert_int_equal(count_rows(fx), 0);

    /* And the connection is fine afterwards. */
    assert_int_equal(fx->be->begin(fx->c, 1), 0);
    insert_name(fx, "fourth", 0);
    assert_int_equal(fx->be->commit(fx->c), 0);
    assert_int_equal(count_rows(fx), 1);
}

static void begin_twice_fails(void **state)
{
    fixture *fx = *state;

    assert_int_equal(fx->be->begin(fx->c, 1), 0);
    assert_int_equal(fx->be->begin(fx->c, 1), CD_EIO);
    insert_name(fx, "still open", 0);
    assert_int_equal(fx->be->rollback(fx->c), 0);
    assert_int_equal(fx->be->rollback(fx->c), 0); /* nothing open: a no-op */
    assert_int_equal(count_rows(fx), 0);
}

static void read_transaction(void **state)
{
    fixture *fx = *state;

    insert_name(fx, "r", 0);
    assert_int_equal(fx->be->begin(fx->c, 0), 0);
    assert_int_equal(count_rows(fx), 1);
    assert_int_equal(fx->be->commit(fx->c), 0);
}

static void invalid_params_are_einval(void **state)
{
    fixture *fx = *state;
    const char *sql = "INSERT INTO t (name) VALUES ($1)";

    exec_expect(fx, sql, json_pack("[{s:i}]", "a", 1), CD_EINVAL);
    assert_true(strlen(fx->be->errmsg(fx->c)) > 0);
    exec_expect(fx, sql, json_pack("[[i]]", 1), CD_EINVAL);
    exec_expect(fx, sql, json_pack("[s#]", "a\0b", (int)3), CD_EINVAL);
    exec_expect(fx, sql, json_pack("{s:s}", "a", "b"), CD_EINVAL);
    exec_expect(fx, sql, json_pack("[s, s]", "a", "b"), CD_EINVAL); /* too many */
    exec_expect(fx, sql, NULL, CD_EINVAL);                           /* too few */
    assert_int_equal(count_rows(fx), 0);
}

static void bad_sql_is_eio(void **state)
{
    fixture *fx = *state;

    exec_expect(fx, "SELEC 1", NULL, CD_EIO);
    assert_true(strlen(fx->be->errmsg(fx->c)) > 0);
    exec_expect(fx, "SELECT * FROM no_such_table", NULL, CD_EIO);
    assert_true(strlen(fx->be->errmsg(fx->c)) > 0);
    exec_expect(fx, "SELECT 1; SELECT 2", NULL, CD_EIO); /* exec runs one statement */
    assert_int_equal(fx->be->exec_script(fx->c, "CREATE TABLE"), CD_EIO);
    assert_true(strlen(fx->be->errmsg(fx->c)) > 0);
}

static json_int_t select_v(fixture *fx, const char *sql)
{
    json_t *rows = query(fx, sql, NULL);
    json_int_t v = json_integer_value(json_object_get(json_array_get(rows, 0), "v"));

    json_decref(rows);
    return v;
}

/* The cache must key on the text, not the pointer. */
static void stmt_cache_same_buffer(void **state)
{
    fixture *fx = *state;
    char buf[64];

    snprintf(buf, sizeof buf, "SELECT %d AS v", 1);
    assert_int_equal(select_v(fx, buf), 1);
    snprintf(buf, sizeof buf, "SELECT %d AS v", 2);
    assert_int_equal(select_v(fx, buf), 2);
    snprintf(buf, sizeof buf, "SELECT %d AS v", 1);
    assert_int_equal(select_v(fx, buf), 1);
}

/* More distinct statements than the cache holds, then the first again. */
static void stmt_cache_eviction(void **state)
{
    fixture *fx = *state;
    char buf[64];

    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 300; i++) {
            snprintf(buf, sizeof buf, "SELECT %d AS v", i);
            assert_int_equal(select_v(fx, buf), i);
        }
    }
}

static void changes_counted(void **state)
{
    fixture *fx = *state;
    json_t *key = json_pack("[s]", "a");
    int64_t changes = -1;

    insert_name(fx, "a", 0);
    insert_name(fx, "b", 0);
    insert_name(fx, "c", 0);
    assert_int_equal(fx->be->exec(fx->c, "UPDATE t SET n = 1", NULL, NULL, &changes), 0);
    assert_int_equal(changes, 3);
    assert_int_equal(fx->be->exec(fx->c, "SELECT * FROM t", NULL, NULL, &changes), 0);
    assert_int_equal(changes, 0);
    assert_int_equal(fx->be->exec(fx->c, "DELETE FROM t WHERE n = 2", NULL, NULL, &changes), 0);
    assert_int_equal(changes, 0);
    assert_int_equal(fx->be->exec(fx->c, "DELETE FROM t WHERE name = $1", key, NULL, &changes),
                     0);
    assert_int_equal(changes, 1);
    assert_int_equal(count_rows(fx), 2);
    json_decref(key);
}

/* $N inside string literals is text, not a parameter. */
static void dollar_in_literal(void **state)
{
    fixture *fx = *state;
    json_t *params = json_pack("[I]", (json_int_t)7);
    json_t *rows = query(fx, "SELECT '$1' AS s, CAST($1 AS BIGINT) AS v", params);
    json_t *row = json_array_get(rows, 0);

    assert_string_equal(json_string_value(json_object_get(row, "s")), "$1");
    assert_int_equal(json_integer_value(json_object_get(row, "v")), 7);
    json_decref(rows);
    json_decref(params);
}

typedef struct writer {
    fixture *fx;
    int id;
    int failed_rc;
    char err[256];
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    const store_backend *be = w->fx->be;
    store_conn *c = NULL;
    int rc = be->connect(w->fx->target, &c, w->err, sizeof w->err);

    for (int i = 0; rc == 0 && i < TXNS_PER_THREAD; i++) {
        json_t *params = json_pack("[I]", (json_int_t)(w->id * 1000 + i));
        rc = be->begin(c, 1);
        if (rc == 0)
            rc = be->exec(c, "INSERT INTO t (n) VALUES ($1)", params, NULL, NULL);
        if (rc == 0)
            rc = be->commit(c);
        if (rc != 0)
            snprintf(w->err, sizeof w->err, "txn %d: %s", i, be->errmsg(c));
        json_decref(params);
    }
    w->failed_rc = rc;
    be->disconnect(c);
    return NULL;
}

static void concurrent_writers_all_commit(void **state)
{
    fixture *fx = *state;
    pthread_t tids[THREADS];
    writer w[THREADS];

    for (int i = 0; i < THREADS; i++) {
        w[i] = (writer){.fx = fx, .id = i};
        assert_int_equal(pthread_create(&tids[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(tids[i], NULL);
    for (int i = 0; i < THREADS; i++)
        if (w[i].failed_rc != 0)
            fail_msg("writer %d: %s: %s", i, cd_strerror(w[i].failed_rc), w[i].err);
    assert_int_equal(count_rows(fx), THREADS * TXNS_PER_THREAD);
}

/* ------------------------------------------------------------------------
 * Mixed concurrent write transactions: commits, explicit rollbacks and
 * transactions that a failed statement dooms, from many threads at once.
 * On SQLite they share batched commits (store_sqlite.c, "Write
 * batching"), so this checks that exactly the committed requests' rows
 * survive and that every request hears its own outcome.
 * ---------------------------------------------------------------------- */

#define MIXED_THREADS 16
#define MIXED_TXNS 40

enum { TX_COMMIT, TX_ROLLBACK, TX_FAIL_COMMIT, TX_FAIL_ROLLBACK, TX_KINDS };

typedef struct mixed_writer {
    fixture *fx;
    int id;
    int committed; /* transactions whose commit returned 0 */
    char err[256]; /* first unexpected result; "" if none */
} mixed_writer;

/* Counts rows with n = key on c; -1 if the query failed. */
static json_int_t count_key(const store_backend *be, store_conn *c, json_int_t key)
{
    json_t *params = json_pack("[I]", key), *rows = NULL;
    json_int_t n = -1;

    if (be->exec(c, "SELECT COUNT(*) AS n FROM t WHERE n = $1", params, &rows, NULL) == 0)
        n = json_integer_value(json_object_get(json_array_get(rows, 0), "n"));
    json_decref(rows);
    json_decref(params);
    return n;
}

static int insert_row(const store_backend *be, store_conn *c, const char *name, json_int_t key,
                      int kind)
{
    json_t *params = json_pack("[s, I, i]", name, key, kind);
    int rc = be->exec(c, "INSERT INTO t (name, n, flag) VALUES ($1, $2, $3)", params, NULL, NULL);

    json_decref(params);
    return rc;
}

#define MIXED_CHECK(w, cond, ...)                                                                  \
    do {                                                                                           \
        if (!(cond) && !(w)->err[0])                                                               \
            snprintf((w)->err, sizeof(w)->err, __VA_ARGS__);                                       \
    } while (0)

/* One transaction of kind kind: two rows (key, names a and b), then the
 * kind's ending. Checks every result against what the kind must give. */
static void mixed_txn(mixed_writer *w, store_conn *c, int j, int kind)
{
    const store_backend *be = w->fx->be;
    json_int_t key = (json_int_t)w->id * 1000 + j;
    char a[64], b[64];
    int rc;

    snprintf(a, sizeof a, "w%d-%d-a", w->id, j);
    snprintf(b, sizeof b, "w%d-%d-b", w->id, j);
    rc = be->begin(c, 1);
    MIXED_CHECK(w, rc == 0, "txn %d: begin: %s (%s)", j, cd_strerror(rc), be->errmsg(c));
    if (rc != 0)
        return;
    rc = insert_row(be, c, a, key, kind);
    MIXED_CHECK(w, rc == 0, "txn %d: insert a: %s (%s)", j, cd_strerror(rc), be->errmsg(c));
    if (kind == TX_FAIL_COMMIT || kind == TX_FAIL_ROLLBACK) {
        rc = insert_row(be, c, "taken", key, kind); /* unique violation */
        MIXED_CHECK(w, rc == CD_ECONFLICT, "txn %d: duplicate gave %s", j, cd_strerror(rc));
    }
    rc = insert_row(be, c, b, key, kind);
    if (kind == TX_FAIL_COMMIT || kind == TX_FAIL_ROLLBACK)
        MIXED_CHECK(w, rc == CD_EIO, "txn %d: insert after error gave %s", j, cd_strerror(rc));
    else
        MIXED_CHECK(w, rc == 0 && count_key(be, c, key) == 2, "txn %d: own rows not seen", j);
    if (kind == TX_COMMIT || kind == TX_FAIL_COMMIT) {
        rc = be->commit(c);
        if (kind == TX_COMMIT)
            MIXED_CHECK(w, rc == 0, "txn %d: commit: %s (%s)", j, cd_strerror(rc), be->errmsg(c));
        else
            MIXED_CHECK(w, rc != 0, "txn %d: commit of a failed transaction succeeded", j);
    } else {
        rc = be->rollback(c);
        MIXED_CHECK(w, rc == 0, "txn %d: rollback: %s (%s)", j, cd_strerror(rc), be->errmsg(c));
        rc = -1;
    }
    w->committed += rc == 0;
    /* Once commit or rollback returned, our own connection agrees. */
    MIXED_CHECK(w, count_key(be, c, key) == (rc == 0 ? 2 : 0),
                "txn %d (kind %d): %lld rows after end", j, kind, (long long)count_key(be, c, key));
}

static void *mixed_writer_main(void *arg)
{
    mixed_writer *w = arg;
    store_conn *c = NULL;

    if (w->fx->be->connect(w->fx->target, &c, w->err, sizeof w->err) != 0)
        return NULL;
    for (int j = 0; j < MIXED_TXNS; j++)
        mixed_txn(w, c, j, (w->id * 3 + j) % TX_KINDS);
    w->fx->be->disconnect(c);
    return NULL;
}

static json_int_t select_n(fixture *fx, const char *sql)
{
    json_t *rows = query(fx, sql, NULL);
    json_int_t n = json_integer_value(json_object_get(json_array_get(rows, 0), "n"));

    json_decref(rows);
    return n;
}

static void mixed_writers_exact_rows(void **state)
{
    fixture *fx = *state;
    pthread_t tids[MIXED_THREADS];
    mixed_writer w[MIXED_THREADS];
    json_int_t committed = 0;

    insert_name(fx, "taken", 0);
    for (int i = 0; i < MIXED_THREADS; i++) {
        w[i] = (mixed_writer){.fx = fx, .id = i + 1};
        assert_int_equal(pthread_create(&tids[i], NULL, mixed_writer_main, &w[i]), 0);
    }
    for (int i = 0; i < MIXED_THREADS; i++)
        pthread_join(tids[i], NULL);
    for (int i = 0; i < MIXED_THREADS; i++) {
        if (w[i].err[0])
            fail_msg("writer %d: %s", w[i].id, w[i].err);
        committed += w[i].committed;
    }
    /* Kinds cycle per thread, so a quarter of all transactions commit. */
    assert_int_equal(committed, MIXED_THREADS * MIXED_TXNS / TX_KINDS);

    /* Exactly the committed rows, seen by a new connection. */
    fx->be->disconnect(fx->c);
    fx->c = open_conn(fx);
    assert_int_equal(count_rows(fx), 1 + 2 * committed);
    assert_int_equal(select_n(fx, "SELECT COUNT(*) AS n FROM t WHERE flag <> 0"), 0);
    assert_int_equal(select_n(fx, "SELECT COUNT(DISTINCT n) AS n FROM t WHERE flag = 0"),
                     committed);
}

/* ------------------------------------------------------------------------
 * SQLite only: the writer gate and batching, driven step by step.
 *
 * An actor is a thread with its own connection that runs one command at a
 * time, so that a test can leave a call blocked (a begin queued at the
 * gate, a commit waiting for its batch) and look at the database from
 * another connection meanwhile. SETTLE_US is how long a started call is
 * given to reach the place where it blocks.
 * ---------------------------------------------------------------------- */

#define SETTLE_US 200000
#define ACTOR_TIMEOUT_S 20

enum { CMD_NONE, CMD_BEGIN, CMD_INSERT, CMD_SQL, CMD_COMMIT, CMD_ROLLBACK, CMD_QUIT };

typedef struct actor {
    const store_backend *be;
    store_conn *c;
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int cmd;       /* pending command; CMD_NONE when idle */
    char name[64]; /* CMD_INSERT's name, CMD_SQL's statement */
    int busy;      /* a command was sent and has not finished */
    int rc;        /* the last finished command's result */
} actor;

static void *actor_main(void *arg)
{
    actor *a = arg;

    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->cmd == CMD_NONE)
            pthread_cond_wait(&a->cv, &a->mu);
        int cmd = a->cmd, rc = 0;
        if (cmd == CMD_QUIT)
            break;
        pthread_mutex_unlock(&a->mu);
        if (cmd == CMD_BEGIN)
            rc = a->be->begin(a->c, 1);
        else if (cmd == CMD_INSERT)
            rc = insert_row(a->be, a->c, a->name, 0, 0);
        else if (cmd == CMD_SQL)
            rc = a->be->exec(a->c, a->name, NULL, NULL, NULL);
        else if (cmd == CMD_COMMIT)
            rc = a->be->commit(a->c);
        else
            rc = a->be->rollback(a->c);
        pthread_mutex_lock(&a->mu);
        a->cmd = CMD_NONE;
        a->rc = rc;
        a->busy = 0;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void actor_start(fixture *fx, actor *a)
{
    *a = (actor){.be = fx->be, .c = open_conn(fx)};
    assert_int_equal(pthread_mutex_init(&a->mu, NULL), 0);
    assert_int_equal(pthread_cond_init(&a->cv, NULL), 0);
    assert_int_equal(pthread_create(&a->tid, NULL, actor_main, a), 0);
}

static void actor_send(actor *a, int cmd, const char *name)
{
    pthread_mutex_lock(&a->mu);
    assert_false(a->busy);
    a->cmd = cmd;
    a->busy = 1;
    snprintf(a->name, sizeof a->name, "%s", name ? name : "");
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* 1 if the last command sent has finished. */
static int actor_done(actor *a)
{
    int done;

    pthread_mutex_lock(&a->mu);
    done = !a->busy;
    pthread_mutex_unlock(&a->mu);
    return done;
}

/* Waits for the last command sent (bounded: a hang fails the test rather
 * than the suite) and returns its result. */
static int actor_wait(actor *a)
{
    struct timespec deadline;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += ACTOR_TIMEOUT_S;
    pthread_mutex_lock(&a->mu);
    while (a->busy && rc == 0)
        rc = pthread_cond_timedwait(&a->cv, &a->mu, &deadline);
    if (a->busy) {
        pthread_mutex_unlock(&a->mu);
        fail_msg("a backend call did not return within %d s", ACTOR_TIMEOUT_S);
    }
    rc = a->rc;
    pthread_mutex_unlock(&a->mu);
    return rc;
}

static int actor_run(actor *a, int cmd, const char *name)
{
    actor_send(a, cmd, name);
    return actor_wait(a);
}

static void actor_stop(actor *a)
{
    actor_send(a, CMD_QUIT, NULL);
    pthread_join(a->tid, NULL);
    a->be->disconnect(a->c);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
}

/* Rows named name, as the test's own connection sees them. */
static json_int_t count_name(fixture *fx, const char *name)
{
    json_t *params = json_pack("[s]", name);
    json_t *rows = query(fx, "SELECT COUNT(*) AS n FROM t WHERE name = $1", params);
    json_int_t n = json_integer_value(json_object_get(json_array_get(rows, 0), "n"));

    json_decref(rows);
    json_decref(params);
    return n;
}

#define QUEUED 8

/* Waits until one of the n actors not yet marked in served has finished
 * its last command; returns its index. */
static int next_done(actor *a, const int *served, int n)
{
    for (int tries = 0; tries < ACTOR_TIMEOUT_S * 1000; tries++) {
        for (int i = 0; i < n; i++)
            if (!served[i] && actor_done(&a[i]))
                return i;
        usleep(1000);
    }
    fail_msg("no queued writer got the gate within %d s", ACTOR_TIMEOUT_S);
    return -1;
}

/* A write transaction held open makes the other writers of the process
 * wait at begin. Once it commits they get the gate one at a time; as each
 * commits while others still queue, it hands the gate on and waits for the
 * batch, so no commit returns, and no row shows, before the last one ends
 * the batch. Then every commit has succeeded and every row is there. */
static void held_writer_queues_others(void **state)
{
    fixture *fx = *state;
    actor holder, queued[QUEUED];
    int served[QUEUED] = {0};
    char name[32];

    actor_start(fx, &holder);
    assert_int_equal(actor_run(&holder, CMD_BEGIN, NULL), 0);
    assert_int_equal(actor_run(&holder, CMD_INSERT, "held"), 0);
    for (int i = 0; i < QUEUED; i++) {
        actor_start(fx, &queued[i]);
        actor_send(&queued[i], CMD_BEGIN, NULL);
    }
    usleep(SETTLE_US);
    for (int i = 0; i < QUEUED; i++)
        assert_false(actor_done(&queued[i]));
    assert_int_equal(count_name(fx, "held"), 0); /* not committed: invisible */
    actor_send(&holder, CMD_COMMIT, NULL);

    for (int round = 0; round < QUEUED; round++) {
        int i = next_done(queued, served, QUEUED);

        served[i] = 1;
        assert_int_equal(actor_wait(&queued[i]), 0); /* its begin */
        usleep(SETTLE_US / 20);
        for (int k = 0; k < QUEUED; k++) /* the gate admits one at a time */
            assert_true(served[k] || !actor_done(&queued[k]));
        assert_false(actor_done(&holder));
        assert_int_equal(count_name(fx, "held"), 0);
        snprintf(name, sizeof name, "queued-%d", i);
        assert_int_equal(actor_run(&queued[i], CMD_INSERT, name), 0);
        actor_send(&queued[i], CMD_COMMIT, NULL);
    }
    assert_int_equal(actor_wait(&holder), 0);
    for (int i = 0; i < QUEUED; i++)
        assert_int_equal(actor_wait(&queued[i]), 0);
    for (int i = 0; i < QUEUED; i++)
        actor_stop(&queued[i]);
    actor_stop(&holder);
    assert_int_equal(count_rows(fx), 1 + QUEUED);
}

/* The sequence that batches two requests: first holds the gate, second
 * queues behind it, first's commit starts and (since second waits) hands
 * the gate on and waits for the batch; second's begin returns. */
static void start_batch_of_two(fixture *fx, actor *first, actor *second)
{
    assert_int_equal(actor_run(first, CMD_BEGIN, NULL), 0);
    assert_int_equal(actor_run(first, CMD_INSERT, "first"), 0);
    actor_send(second, CMD_BEGIN, NULL);
    usleep(SETTLE_US);
    assert_false(actor_done(second));
    actor_send(first, CMD_COMMIT, NULL);
    assert_int_equal(actor_wait(second), 0);
    usleep(SETTLE_US);
    /* first's commit waits for the batch that second now holds open, and
     * until then no connection may see its row. */
    assert_false(actor_done(first));
    assert_int_equal(count_name(fx, "first"), 0);
}

/* A member's row is invisible to other connections until the batch that
 * carries it commits, and its commit returns only after that; the batch
 * commits whether the last member commits, rolls back or fails. */
static void batch_member_visible_only_after_commit(void **state)
{
    fixture *fx = *state;
    actor first, second;

    actor_start(fx, &first);
    actor_start(fx, &second);

    /* second commits too: one COMMIT for both. */
    start_batch_of_two(fx, &first, &second);
    assert_int_equal(actor_run(&second, CMD_INSERT, "second"), 0);
    assert_int_equal(count_name(fx, "second"), 0);
    assert_int_equal(actor_run(&second, CMD_COMMIT, NULL), 0);
    assert_int_equal(actor_wait(&first), 0);
    assert_int_equal(count_name(fx, "first"), 1);
    assert_int_equal(count_name(fx, "second"), 1);
    exec_expect(fx, "DELETE FROM t", NULL, 0);

    /* second rolls back: first's row is still committed, second's not. */
    start_batch_of_two(fx, &first, &second);
    assert_int_equal(actor_run(&second, CMD_INSERT, "second"), 0);
    assert_int_equal(actor_run(&second, CMD_ROLLBACK, NULL), 0);
    assert_int_equal(actor_wait(&first), 0);
    assert_int_equal(count_name(fx, "first"), 1);
    assert_int_equal(count_name(fx, "second"), 0);

    actor_stop(&second);
    actor_stop(&first);
}

/* A request that hit a unique violation on a row of an earlier member of
 * its batch must not return before that row is committed: the caller may
 * read it next (store's idempotency replay does). Here the failed request
 * hands the batch on to a third, which keeps it open. */
static void failed_member_waits_for_what_it_saw(void **state)
{
    fixture *fx = *state;
    actor first, second, third;

    actor_start(fx, &first);
    actor_start(fx, &second);
    actor_start(fx, &third);
    exec_expect(fx, "DELETE FROM t", NULL, 0);

    start_batch_of_two(fx, &first, &second);
    assert_int_equal(actor_run(&second, CMD_INSERT, "first"), CD_ECONFLICT);
    actor_send(&third, CMD_BEGIN, NULL);
    usleep(SETTLE_US);
    assert_false(actor_done(&third));
    actor_send(&second, CMD_COMMIT, NULL); /* fails; hands the batch to third */
    assert_int_equal(actor_wait(&third), 0);
    usleep(SETTLE_US);
    assert_false(actor_done(&second));
    assert_int_equal(count_name(fx, "first"), 0);
    assert_int_equal(actor_run(&third, CMD_INSERT, "third"), 0);
    assert_int_equal(actor_run(&third, CMD_COMMIT, NULL), 0);
    assert_int_not_equal(actor_wait(&second), 0);
    assert_int_equal(actor_wait(&first), 0);
    assert_int_equal(count_name(fx, "first"), 1);
    assert_int_equal(count_name(fx, "third"), 1);
    assert_int_equal(count_rows(fx), 2);

    actor_stop(&third);
    actor_stop(&second);
    actor_stop(&first);
}

/* A member that disconnects inside its transaction leaves the batch to
 * the others: the earlier member's commit still completes. */
static void member_disconnect_mid_batch(void **state)
{
    fixture *fx = *state;
    actor first, second;

    actor_start(fx, &first);
    actor_start(fx, &second);
    start_batch_of_two(fx, &first, &second);
    assert_int_equal(actor_run(&second, CMD_INSERT, "second"), 0);
    actor_stop(&second); /* disconnects with the transaction open */
    assert_int_equal(actor_wait(&first), 0);
    assert_int_equal(count_name(fx, "first"), 1);
    assert_int_equal(count_name(fx, "second"), 0);
    actor_stop(&first);

    /* And everything committed survives a reconnect. */
    fx->be->disconnect(fx->c);
    fx->c = open_conn(fx);
    assert_int_equal(count_rows(fx), 1);
}

/* A statement that ends the shared transaction itself (here a ROLLBACK in
 * the SQL; an I/O error or a full disk do the same) loses the work of every
 * member: all of them must hear so, and the batch must not be handed on,
 * or the next member's SAVEPOINT would open a fresh transaction whose
 * COMMIT reported success for rows that are gone. */
static void statement_ending_batch_fails_members(void **state)
{
    fixture *fx = *state;
    actor first, second, third;
    int rc;

    actor_start(fx, &first);
    actor_start(fx, &second);
    actor_start(fx, &third);
    start_batch_of_two(fx, &first, &second);
    actor_run(&second, CMD_SQL, "ROLLBACK"); /* refused or not, the batch is gone */
    actor_send(&third, CMD_BEGIN, NULL);
    usleep(SETTLE_US);
    actor_send(&second, CMD_COMMIT, NULL);
    assert_int_equal(actor_wait(&third), 0);
    assert_int_equal(actor_run(&third, CMD_INSERT, "third"), 0);
    assert_int_equal(actor_run(&third, CMD_COMMIT, NULL), 0);
    assert_int_not_equal(actor_wait(&second), 0);
    rc = actor_wait(&first);
    assert_int_equal(count_name(fx, "first"), rc == 0); /* told the truth */
    assert_int_not_equal(rc, 0);
    assert_int_equal(count_name(fx, "third"), 1);

    /* The batch machinery is fine afterwards. */
    assert_int_equal(actor_run(&first, CMD_BEGIN, NULL), 0);
    assert_int_equal(actor_run(&first, CMD_INSERT, "again"), 0);
    assert_int_equal(actor_run(&first, CMD_COMMIT, NULL), 0);
    assert_int_equal(count_name(fx, "again"), 1);
    actor_stop(&third);
    actor_stop(&second);
    actor_stop(&first);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(insert_returning_id),
        T(params_every_type_roundtrip),
        T(nulls_roundtrip),
        T(unicode_text_roundtrip),
        T(unique_violation_is_conflict),
        T(not_null_violation_is_invalid),
        T(rollback_discards),
        T(commit_persists_across_reconnect),
        T(error_aborts_transaction),
        T(begin_twice_fails),
        T(read_transaction),
        T(invalid_params_are_einval),
        T(bad_sql_is_eio),
        T(stmt_cache_same_buffer),
        T(stmt_cache_eviction),
        T(changes_counted),
        T(dollar_in_literal),
        T(concurrent_writers_all_commit),
        T(mixed_writers_exact_rows),
    };
    /* The writer gate and batching exist only in the SQLite backend. */
    const struct CMUnitTest sqlite_tests[] = {
        T(held_writer_queues_others),
        T(batch_member_visible_only_after_commit),
        T(failed_member_waits_for_what_it_saw),
        T(member_disconnect_mid_batch),
        T(statement_ending_batch_fails_members),
    };
    const char *skip_pg = getenv("CAREDESK_SKIP_PG");
    int failed;

    cd_mem_install();
    failed = cmocka_run_group_tests_name("sqlite", tests, group_setup_sqlite,
                                         group_teardown_sqlite);
    failed += cmocka_run_group_tests_name("sqlite-batching", sqlite_tests, group_setup_sqlite,
                                          group_teardown_sqlite);
    if (skip_pg && strcmp(skip_pg, "1") == 0)
        fprintf(stderr, "CAREDESK_SKIP_PG=1: PostgreSQL backend not tested\n");
    else
        failed += cmocka_run_group_tests_name("postgresql", tests, group_setup_pg,
                                              group_teardown_pg);
    return failed;
}

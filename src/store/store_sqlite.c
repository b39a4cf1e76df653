/* store_sqlite.c - the SQLite store backend.
 *
 * One store_conn wraps one sqlite3 handle opened with SQLITE_OPEN_NOMUTEX:
 * a connection is used by one thread at a time, never concurrently.
 *
 * SQL arrives in the portable form with $1..$n; it is rewritten to ?1..?n
 * and prepared once per connection, then kept in a small statement cache
 * keyed by the SQL text (not its address: store.c builds some SQL in
 * reused buffers).
 *
 * Durability: the database runs in WAL mode with synchronous=NORMAL, so a
 * COMMIT only write()s its WAL frames. After a write transaction commits
 * (or a write runs in autocommit mode), the backend fdatasync()s the WAL
 * itself, and concurrent committers on the same database file share one
 * fdatasync (group commit); see "State shared by all connections" below.
 *
 * Transactions fail as a whole, as in PostgreSQL (see tx_aborted), so code
 * tested on SQLite behaves the same on PostgreSQL. */
#include "store/backend.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STMT_CACHE_SIZE 128
#define BUSY_TIMEOUT_MS 10000
#define BATCH_MAX 64 /* requests sharing one write transaction at most */

typedef struct store_conn store_conn;
static void sq_disconnect(store_conn *c);
static int sq_connect(const char *target, store_conn **out, char *err, size_t errlen);

/* ------------------------------------------------------------------------
 * State shared by all connections of this process to one database file:
 * the group commit of the WAL and the writer gate.
 *
 * Group commit: why it is durable. A transaction's WAL frames, commit frame
 * included, are written into the "-wal" file before sqlite3_step("COMMIT")
 * returns. On Linux, fsync/fdatasync flushes the dirty pages of the
 * *inode*, whatever file descriptor it is called through, so an fdatasync
 * on our own fd covers frames written through SQLite's fd, by any
 * connection in any thread. A committer counts itself in (commit_seq) only
 * after its COMMIT has returned; a syncer reads commit_seq before calling
 * fdatasync, so every commit counted in its target had its frames written
 * before the sync began. WAL frames are appended in commit order and
 * recovery stops at the first invalid frame, so a crash can lose only a
 * suffix of commits that no caller was told were committed. (Another
 * connection may read such a commit before it is synced; anything it
 * writes on top commits later and waits for a later sync.) Checkpoints are
 * synced by SQLite itself under synchronous=NORMAL (WAL, then database).
 *
 * Group commit: why it is fast. The write lock is released at COMMIT,
 * before the fdatasync, so while one thread syncs, others run their write
 * transactions and queue up behind it; the next sync covers all of them.
 *
 * The writer gate. SQLite's own busy handler waits for the write lock by
 * sleeping 1, 2, 5 ... 100 ms, so writers of one process would spend their
 * time asleep instead of queueing for the next sync. Write transactions of
 * this process therefore first pass a gate (a flag under the mutex, not a
 * pthread mutex, so any thread may end the transaction) and are woken the
 * moment the previous writer commits. Waiting is bounded by the same 10 s
 * as busy_timeout; other processes still meet busy_timeout.
 *
 * The WAL file is never replaced while one of our connections is open
 * (SQLite deletes it only when the last connection closes), but the fd is
 * checked against the path before each sync and reopened if it is stale.
 *
 * Process-wide state: connections to one database file must find each
 * other, so these objects live in a registry keyed by the absolute database
 * path. This is the one justified global of the store: it mirrors state the
 * kernel already shares per inode. Two paths to one file (symlinks) give
 * two objects, which is still correct, only less coalesced.
 * ---------------------------------------------------------------------- */

/* A request waiting for the outcome of the batch it took part in; lives on
 * its stack, linked into shared_file.waiting until the batch's end is
 * published. (A ring of outcomes indexed by batch id could be overwritten
 * by later batches before a slow waiter woke up, leaving it asleep for
 * good.) */
typedef struct batch_waiter {
    struct batch_waiter *next;
    int rc;
    int done;
} batch_waiter;

typedef struct shared_file {
    struct shared_file *next; /* registry list, under registry_lock */
    int refs;                 /* under registry_lock */
    char *db_path;            /* registry key */
    char *wal_path;

    pthread_mutex_t lock; /* guards everything below except fd */
    pthread_cond_t synced;
    pthread_cond_t gate_free;
    int gate_held;                 /* a write transaction is open */
    unsigned long long commit_seq; /* commits counted in */
    unsigned long long synced_seq; /* commits known durable */
    int syncing;                   /* a thread is in fdatasync */
    int failed;                    /* an fdatasync failed: sticky */
    int gate_waiters;              /* threads waiting in gate_enter */
    /* The gate holder alone writes (and reads) writer, batch_open, batch_id
     * and batch_members, without the mutex: the gate hands them over, and
     * the mutex taken to pass it orders the accesses. */
    store_conn *writer;            /* write transactions run here */
    int batch_open;                /* writer holds an open batch transaction */
    unsigned long long batch_id;   /* the open (or last) batch */
    int batch_members;             /* requests released into the open batch */
    batch_waiter *waiting;         /* members of the open batch awaiting its end */
    pthread_cond_t batch_done;
    int wal_frames;                /* frames in the WAL after the last commit */
    int checkpointed_at;           /* wal_frames when the last checkpoint ran */
    int checkpointing;             /* a thread is checkpointing */
    int fd;                        /* on wal_path; only the syncer touches it */
} shared_file;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static shared_file *registry;

static int shared_init_sync(shared_file *f)
{
    pthread_condattr_t attr;
    int rc = -1;

    if (pthread_condattr_init(&attr) != 0)
        return -1;
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0)
        goto out_attr;
    if (pthread_mutex_init(&f->lock, NULL) != 0)
        goto out_attr;
    if (pthread_cond_init(&f->synced, NULL) != 0)
        goto err_mutex;
    if (pthread_cond_init(&f->gate_free, &attr) != 0)
        goto err_synced;
    if (pthread_cond_init(&f->batch_done, NULL) != 0)
        goto err_gate;
    rc = 0;
    goto out_attr;

err_gate:
    pthread_cond_destroy(&f->gate_free);
err_synced:
    pthread_cond_destroy(&f->synced);
err_mutex:
    pthread_mutex_destroy(&f->lock);
out_attr:
    pthread_condattr_destroy(&attr);
    return rc;
}

static shared_file *shared_create(const char *db_path, const char *wal_path)
{
    shared_file *f = cd_calloc(1, sizeof *f);

    if (!f)
        return NULL;
    f->fd = -1;
    f->db_path = cd_strdup(db_path);
    f->wal_path = cd_strdup(wal_path);
    if (!f->db_path || !f->wal_path || shared_init_sync(f) != 0)
        goto err_free;
    return f;

err_free:
    cd_free(f->wal_path);
    cd_free(f->db_path);
    cd_free(f);
    return NULL;
}

static void shared_destroy(shared_file *f)
{
    sq_disconnect(f->writer);
    if (f->fd >= 0)
        close(f->fd);
    pthread_cond_destroy(&f->batch_done);
    pthread_cond_destroy(&f->gate_free);
    pthread_cond_destroy(&f->synced);
    pthread_mutex_destroy(&f->lock);
    cd_free(f->wal_path);
    cd_free(f->db_path);
    cd_free(f);
}

/* Finds or creates the object for db_path and takes a reference. */
static shared_file *shared_acquire(const char *db_path, const char *wal_path)
{
    shared_file *f;

    pthread_mutex_lock(&registry_lock);
    for (f = registry; f && strcmp(f->db_path, db_path) != 0; f = f->next)
        ;
    if (!f && (f = shared_create(db_path, wal_path)) != NULL) {
        f->next = registry;
        registry = f;
    }
    if (f)
        f->refs++;
    pthread_mutex_unlock(&registry_lock);
    return f;
}

static void shared_release(shared_file *f)
{
    shared_file **p;

    if (!f)
        return;
    pthread_mutex_lock(&registry_lock);
    if (--f->refs > 0) {
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    for (p = &registry; *p != f; p = &(*p)->next)
        ;
    *p = f->next;
    pthread_mutex_unlock(&registry_lock);
    shared_destroy(f);
}

/* Waits (bounded) until no other write transaction of this process is open. */
static int gate_enter(shared_file *f)
{
    struct timespec deadline;
    int rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += BUSY_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&f->lock);
    f->gate_waiters++;
    while (f->gate_held && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&f->gate_free, &f->lock, &deadline);
    f->gate_waiters--;
    rc = f->gate_held ? CD_EBUSY : 0;
    f->gate_held = 1;
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static void gate_leave(shared_file *f)
{
    pthread_mutex_lock(&f->lock);
    f->gate_held = 0;
    pthread_cond_signal(&f->gate_free);
    pthread_mutex_unlock(&f->lock);
}

/* Opens the gate if a request is waiting at it and the open batch may
 * grow, and then links w (if not NULL) into the batch's waiters; returns 1
 * if it did. The check and the opening are one step under the mutex: with
 * a count read earlier, the waiter could time out of gate_enter in
 * between, and the batch would stay open with nobody left to commit it.
 * Once the gate is open with gate_waiters > 0, a waiter (or a newcomer)
 * takes it, because gate_enter re-checks gate_held after a timeout too. */
static int gate_pass(shared_file *f, batch_waiter *w)
{
    int passed;

    pthread_mutex_lock(&f->lock);
    passed = f->gate_waiters > 0 && f->batch_members < BATCH_MAX;
    if (passed) {
        if (w) {
            w->next = f->waiting;
            f->waiting = w;
        }
        f->gate_held = 0;
        pthread_cond_signal(&f->gate_free);
    }
    pthread_mutex_unlock(&f->lock);
    return passed;
}

/* Makes f->fd refer to the file now at f->wal_path. Syncer only. */
static int wal_fd_refresh(shared_file *f)
{
    struct stat at_path, at_fd;

    if (stat(f->wal_path, &at_path) != 0)
        return CD_EIO;
    if (f->fd >= 0 && fstat(f->fd, &at_fd) == 0 && at_fd.st_dev == at_path.st_dev &&
        at_fd.st_ino == at_path.st_ino)
        return 0;
    if (f->fd >= 0)
        close(f->fd);
    f->fd = open(f->wal_path, O_RDWR | O_CLOEXEC);
    return f->fd >= 0 ? 0 : CD_EIO;
}

static int wal_sync(shared_file *f)
{
    if (wal_fd_refresh(f) != 0)
        return CD_EIO;
    return fdatasync(f->fd) == 0 ? 0 : CD_EIO;
}

/* Called after a COMMIT returned; returns once that commit is on disk.
 *
 * A failed fdatasync poisons the object for good: Linux may drop the dirty
 * pages after reporting the error, so a later successful fdatasync proves
 * nothing about them (PostgreSQL panics for the same reason). Every later
 * commit then fails with CD_EIO until all connections to the file close. */
static int group_commit(shared_file *f)
{
    unsigned long long mine;
    int rc;

    pthread_mutex_lock(&f->lock);
    mine = ++f->commit_seq;
    while (f->synced_seq < mine && f->syncing && !f->failed)
        pthread_cond_wait(&f->synced, &f->lock);
    if (f->synced_seq < mine && !f->failed) {
        unsigned long long target = f->commit_seq; /* all counted in so far */

        f->syncing = 1;
        pthread_mutex_unlock(&f->lock);
        rc = wal_sync(f);
        pthread_mutex_lock(&f->lock);
        f->syncing = 0;
        if (rc == 0)
            f->synced_seq = target;
        else
            f->failed = 1;
        pthread_cond_broadcast(&f->synced);
    }
    rc = f->synced_seq >= mine ? 0 : CD_EIO;
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* ------------------------------------------------------------------------
 * Connection and statement cache.
 * ---------------------------------------------------------------------- */

typedef struct cached_stmt {
    sqlite3_stmt *stmt; /* NULL: free slot */
    char *sql;          /* the caller's SQL text: the key */
    unsigned long long hash;
    unsigned long long last_use;
} cached_stmt;

struct store_conn {
    sqlite3 *db;
    shared_file *shared; /* NULL unless the database is a file in WAL mode */
    int is_writer;       /* this is shared->writer (holds no reference) */
    int in_batch;        /* in a write transaction, running on shared->writer */
    unsigned long long batch;
    int in_gate;         /* holds the shared writer gate */
    int in_tx;           /* between begin and commit/rollback */
    int tx_failed;       /* a statement failed inside it: see tx_aborted */
    unsigned long long tick;
    cached_stmt cache[STMT_CACHE_SIZE];
    char err[256];
};

__attribute__((format(printf, 2, 3))) static void set_err(store_conn *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

static int map_sqlite(int rc)
{
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return CD_ECONFLICT;
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH: /* datatype mismatch: PostgreSQL's 22xxx */
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
        return CD_EINVAL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CD_EBUSY;
    case SQLITE_NOMEM:
        return CD_ENOMEM;
    default:
        return CD_EIO;
    }
}

/* Records the connection's SQLite error message and maps rc. */
static int fail(store_conn *c, int rc)
{
    set_err(c, "%s", sqlite3_errmsg(c->db));
    return map_sqlite(rc);
}

static unsigned long long hash_sql(const char *s)
{
    unsigned long long h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int is_ident_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || ch == '$';
}

/* Returns a copy of sql with $N turned into ?N outside quoted text. */
static char *rewrite_params(const char *sql)
{
    char *out = cd_strdup(sql);
    char quote = 0;
    char *p;

    if (!out)
        return NULL;
    for (p = out; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0; /* '' inside a literal reopens at once: fine */
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '$' && isdigit((unsigned char)p[1]) &&
                   (p == out || !is_ident_char(p[-1]))) {
            *p = '?';
        }
    }
    return out;
}

static int only_space(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

/* Prepares sql (portable form) as exactly one statement. */
static int prepare(store_conn *c, const char *sql, sqlite3_stmt **out)
{
    char *native = rewrite_params(sql);
    const char *tail = NULL;
    int rc;

    *out = NULL;
    if (!native)
        return CD_ENOMEM;
    rc = sqlite3_prepare_v3(c->db, native, -1, SQLITE_PREPARE_PERSISTENT, out, &tail);
    if (rc != SQLITE_OK) {
        rc = fail(c, rc);
    } else if (!*out || !only_space(tail)) {
        /* CD_EIO like PostgreSQL's syntax error for the same SQL. */
        set_err(c, "exec takes exactly one SQL statement");
        rc = CD_EIO;
    }
    if (rc != 0) {
        sqlite3_finalize(*out);
        *out = NULL;
    }
    cd_free(native);
    return rc;
}

static void cache_clear_slot(cached_stmt *e)
{
    sqlite3_finalize(e->stmt);
    cd_free(e->sql);
    memset(e, 0, sizeof *e);
}

/* A free slot if there is one, else the least recently used. */
static cached_stmt *cache_victim(store_conn *c)
{
    cached_stmt *victim = &c->cache[0];

    for (int i = 0; i < STMT_CACHE_SIZE; i++) {
        if (!c->cache[i].stmt)
            return &c->cache[i];
        if (c->cache[i].last_use < victim->last_use)
            victim = &c->cache[i];
    }
    return victim;
}

/* The prepared statement for sql, from the cache or freshly prepared.
 * The statement stays owned by the cache. */
static int stmt_get(store_conn *c, const char *sql, sqlite3_stmt **out)
{
    unsigned long long h = hash_sql(sql);
    cached_stmt *e;
    char *key;
    int rc;

    for (int i = 0; i < STMT_CACHE_SIZE; i++) {
        e = &c->cache[i];
        if (e->stmt && e->hash == h && strcmp(e->sql, sql) == 0) {
            e->last_use = ++c->tick;
            *out = e->stmt;
            return 0;
        }
    }
    key = cd_strdup(sql);
    if (!key)
        return CD_ENOMEM;
    rc = prepare(c, sql, out);
    if (rc != 0) {
        cd_free(key);
        return rc;
    }
    e = cache_victim(c);
    cache_clear_slot(e);
    *e = (cached_stmt){.stmt = *out, .sql = key, .hash = h, .last_use = ++c->tick};
    return 0;
}

/* ------------------------------------------------------------------------
 * Parameters and rows.
 * ---------------------------------------------------------------------- */

static int bind_one(store_conn *c, sqlite3_stmt *st, int i, json_t *v)
{
    const char *s;
    size_t n;
    int rc;

    switch (json_typeof(v)) {
    case JSON_NULL:
        rc = sqlite3_bind_null(st, i);
        break;
    case JSON_INTEGER:
        rc = sqlite3_bind_int64(st, i, (sqlite3_int64)json_integer_value(v));
        break;
    case JSON_REAL:
        rc = sqlite3_bind_double(st, i, json_real_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        rc = sqlite3_bind_int(st, i, json_is_true(v));
        break;
    case JSON_STRING:
        s = json_string_value(v);
        n = json_string_length(v);
        if (memchr(s, '\0', n)) {
            set_err(c, "parameter $%d: string contains NUL", i);
            return CD_EINVAL;
        }
        /* Static: params are borrowed for the whole call, and bindings
         * are cleared before exec returns. */
        rc = sqlite3_bind_text64(st, i, s, n, SQLITE_STATIC, SQLITE_UTF8);
        break;
    default:
        set_err(c, "parameter $%d: arrays and objects are not SQL values", i);
        return CD_EINVAL;
    }
    return rc == SQLITE_OK ? 0 : fail(c, rc);
}

static int bind_params(store_conn *c, sqlite3_stmt *st, json_t *params)
{
    size_t n = params ? json_array_size(params) : 0;

    if (params && !json_is_array(params)) {
        set_err(c, "params must be a JSON array");
        return CD_EINVAL;
    }
    if (n != (size_t)sqlite3_bind_parameter_count(st)) {
        set_err(c, "statement takes %d parameters, %zu given", sqlite3_bind_parameter_count(st),
                n);
        return CD_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = bind_one(c, st, (int)i + 1, json_array_get(params, i));
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* jansson refuses invalid UTF-8 and failed allocations alike; tell them
 * apart so that out-of-memory is reported as such. */
static int text_value(const char *p, size_t n, json_t **out)
{
    json_t *probe;

    *out = json_stringn(p ? p : "", n);
    if (*out)
        return 0;
    probe = json_stringn_nocheck(p ? p : "", n);
    if (!probe)
        return CD_ENOMEM;
    json_decref(probe);
    return CD_EIO;
}

static int column_value(sqlite3_stmt *st, int i, json_t **out)
{
    const void *p;
    double d;

    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        *out = json_null();
        return 0;
    case SQLITE_INTEGER:
        *out = json_integer((json_int_t)sqlite3_column_int64(st, i));
        return *out ? 0 : CD_ENOMEM;
    case SQLITE_FLOAT:
        /* JSON has no infinities; spell them as PostgreSQL does. */
        d = sqlite3_column_double(st, i);
        *out = isfinite(d) ? json_real(d) : json_string(d > 0 ? "Infinity" : "-Infinity");
        return *out ? 0 : CD_ENOMEM;
    case SQLITE_BLOB:
        p = sqlite3_column_blob(st, i);
        return text_value(p, (size_t)sqlite3_column_bytes(st, i), out);
    default:
        p = sqlite3_column_text(st, i);
        return text_value(p, (size_t)sqlite3_column_bytes(st, i), out);
    }
}

static int append_row(store_conn *c, sqlite3_stmt *st, json_t *rows)
{
    json_t *row = json_object();
    json_t *v;
    const char *name;
    int i, rc;

    if (!row)
        return CD_ENOMEM;
    for (i = 0; i < sqlite3_column_count(st); i++) {
        rc = column_value(st, i, &v);
        if (rc != 0)
            goto err_row;
        name = sqlite3_column_name(st, i);
        rc = CD_ENOMEM;
        if (!name)
            json_decref(v);
        if (!name || json_object_set_new(row, name, v) != 0) /* set_new frees v */
            goto err_row;
    }
    if (json_array_append_new(rows, row) != 0)
        return CD_ENOMEM;
    return 0;

err_row:
    if (rc == CD_EIO)
        set_err(c, "result column %d is not valid UTF-8", i + 1);
    json_decref(row);
    return rc;
}

/* Steps st to completion, appending rows to rows if it is not NULL. */
static int step_all(store_conn *c, sqlite3_stmt *st, json_t *rows)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows && (rc = append_row(c, st, rows)) != 0)
            return rc;
    }
    return rc == SQLITE_DONE ? 0 : fail(c, rc);
}

/* ------------------------------------------------------------------------
 * Backend operations.
 * ---------------------------------------------------------------------- */

/* Checkpointing. SQLite's automatic checkpoint runs inside the COMMIT that
 * crosses the threshold, that is inside the writer gate, so every writer
 * would wait for it. Instead a WAL hook records the WAL's size, and a
 * committer that finds it grown past CHECKPOINT_FRAMES runs a PASSIVE
 * checkpoint after its sync, outside the gate, while others go on writing. */
#define CHECKPOINT_FRAMES 2000

static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    shared_file *f = arg;
    (void)db;
    (void)name;
    pthread_mutex_lock(&f->lock);
    if (frames < f->checkpointed_at)
        f->checkpointed_at = 0; /* the WAL restarted from its beginning */
    f->wal_frames = frames;
    pthread_mutex_unlock(&f->lock);
    return SQLITE_OK;
}

static void maybe_checkpoint(store_conn *c)
{
    shared_file *f = c->shared;
    int go;
    pthread_mutex_lock(&f->lock);
    go = !f->checkpointing && f->wal_frames - f->checkpointed_at >= CHECKPOINT_FRAMES;
    if (go) {
        f->checkpointing = 1;
        f->checkpointed_at = f->wal_frames;
    }
    pthread_mutex_unlock(&f->lock);
    if (!go)
        return;
    /* Failure is harmless: the pages stay in the WAL for the next try. */
    sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_lock(&f->lock);
    f->checkpointing = 0;
    pthread_mutex_unlock(&f->lock);
}

static int make_durable(store_conn *c)
{
    if (!c->shared)
        return 0;
    if (group_commit(c->shared) == 0) {
        maybe_checkpoint(c);
        return 0;
    }
    set_err(c, "committed but could not make it durable: fdatasync of %s failed",
            c->shared->wal_path);
    return CD_EIO;
}

/* Opens the writer gate once the transaction is over, however it ended:
 * COMMIT, ROLLBACK, a failed BEGIN or an error that rolled back. */
static void gate_check(store_conn *c)
{
    if (c->in_gate && sqlite3_get_autocommit(c->db)) {
        gate_leave(c->shared);
        c->in_gate = 0;
    }
}

/* Runs a prepared, bound statement. A write in autocommit mode is its own
 * transaction, so it is made durable like a commit. */
static int run(store_conn *c, sqlite3_stmt *st, json_t *rows, int64_t *changes)
{
    int was_autocommit = sqlite3_get_autocommit(c->db);
    sqlite3_int64 before = sqlite3_total_changes64(c->db);
    int rc = step_all(c, st, rows);

    if (rc != 0)
        return rc;
    /* sqlite3_changes() keeps the last DML count across DDL and SELECT;
     * total_changes tells whether this statement changed anything. */
    *changes = sqlite3_total_changes64(c->db) != before ? sqlite3_changes64(c->db) : 0;
    if (was_autocommit && sqlite3_get_autocommit(c->db) && !sqlite3_stmt_readonly(st))
        return make_durable(c);
    return 0;
}

/* Runs one statement: the body of exec, and BEGIN/COMMIT/ROLLBACK. */
static int exec_sql(store_conn *c, const char *sql, json_t *params, json_t **rows_out,
                    int64_t *changes_out)
{
    sqlite3_stmt *st;
    json_t *rows = NULL;
    int64_t changes = 0;
    int rc = stmt_get(c, sql, &st);

    if (rc != 0)
        return rc;
    rc = bind_params(c, st, params);
    if (rc != 0)
        goto out_reset;
    if (rows_out && !(rows = json_array())) {
        rc = CD_ENOMEM;
        goto out_reset;
    }
    rc = run(c, st, rows, &changes);
    if (rc != 0)
        goto out_rows;
    if (rows_out)
        *rows_out = json_incref(rows);
    if (changes_out)
        *changes_out = changes;
out_rows:
    json_decref(rows);
out_reset:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    gate_check(c);
    return rc;
}

/* ------------------------------------------------------------------------
 * Write batching. Every write transaction of this process runs on one
 * writer connection, inside a SAVEPOINT of a shared transaction (a batch):
 * a request that finishes while others queue at the gate releases its
 * savepoint and hands the gate on without committing; the request that
 * finds nobody waiting (or the BATCH_MAXth) commits the batch, syncs it
 * and publishes the outcome. Every member waits for that outcome, so a
 * success still means durable. Many requests then share one COMMIT, one
 * WAL append of the pages they all touched, and one fdatasync. A request
 * that fails rolls back to its savepoint and leaves the batch intact; an
 * error that ends the whole transaction (I/O, disk full) fails every
 * member of the batch.
 *
 * Isolation: a member sees the work of the members before it in its batch
 * before that work is committed, as if they ran one after the other. So
 * that nobody answers on the strength of such work, a member that rolls
 * back also waits for the batch's outcome (see batch_end); if the batch
 * then fails, what it saw was lost with everyone's work, as after a crash.
 *
 * Liveness: an open batch always has an owner, the request holding the
 * gate; the gate is passed only to a request that is waiting for it (see
 * gate_pass), and every way out of a batched request (commit, rollback,
 * a failed statement, a failed begin, disconnect) passes it on, commits
 * the batch or aborts it.
 * ---------------------------------------------------------------------- */

/* Detaches the waiters of the batch that is ending (gate held), so that
 * the next batch, which may start as soon as the gate opens, has its own. */
static batch_waiter *batch_take_waiters(shared_file *f)
{
    batch_waiter *list;

    pthread_mutex_lock(&f->lock);
    list = f->waiting;
    f->waiting = NULL;
    pthread_mutex_unlock(&f->lock);
    return list;
}

/* Tells every waiter of an ended batch its outcome. A waiter's record is
 * on its stack: it may return as soon as the mutex is released. */
static void batch_publish(shared_file *f, batch_waiter *list, int rc)
{
    pthread_mutex_lock(&f->lock);
    for (; list; list = list->next) {
        list->rc = rc;
        list->done = 1;
    }
    pthread_cond_broadcast(&f->batch_done);
    pthread_mutex_unlock(&f->lock);
}

static int batch_wait(shared_file *f, batch_waiter *w)
{
    int rc;

    pthread_mutex_lock(&f->lock);
    while (!w->done)
        pthread_cond_wait(&f->batch_done, &f->lock);
    rc = w->rc;
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* The batch died with the writer's transaction (gate held). */
static void batch_abort(shared_file *f, int rc)
{
    if (!sqlite3_get_autocommit(f->writer->db))
        exec_sql(f->writer, "ROLLBACK", NULL, NULL, NULL);
    f->batch_open = 0;
    batch_publish(f, batch_take_waiters(f), rc ? rc : CD_EIO);
}

static int writer_open(store_conn *c)
{
    shared_file *f = c->shared;
    char err[200];
    if (f->writer)
        return 0;
    if (sq_connect(f->db_path, &f->writer, err, sizeof err) != 0) {
        set_err(c, "%s", err);
        return CD_EIO;
    }
    if (f->writer->shared != f) {
        /* Its path led to another object (or none): dropping a reference
         * of f for it below would free f under its users. */
        sq_disconnect(f->writer);
        f->writer = NULL;
        set_err(c, "%s: the writer connection did not find its shared state", f->db_path);
        return CD_EIO;
    }
    /* The writer belongs to f: drop the reference its connect took, or f
     * could never be freed. c still holds one, so f stays. */
    pthread_mutex_lock(&registry_lock);
    f->refs--;
    pthread_mutex_unlock(&registry_lock);
    f->writer->is_writer = 1;
    return 0;
}

static void copy_err(store_conn *to, const store_conn *from)
{
    snprintf(to->err, sizeof to->err, "%s", from->err);
}

/* Starts a batch on the writer (gate held, no batch open). */
static int batch_begin(shared_file *f)
{
    int rc;

    /* A ROLLBACK that failed (out of memory) may have left a transaction
     * behind; BEGIN would then fail for every later request. */
    if (!sqlite3_get_autocommit(f->writer->db))
        exec_sql(f->writer, "ROLLBACK", NULL, NULL, NULL);
    rc = exec_sql(f->writer, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (!rc) {
        f->batch_open = 1;
        f->batch_id++;
        f->batch_members = 0;
    }
    return rc;
}

/* Commits the open batch and makes it durable (gate held on entry,
 * released inside). Returns the batch's outcome. */
static int batch_commit(store_conn *c)
{
    shared_file *f = c->shared;
    batch_waiter *members = batch_take_waiters(f);
    int rc = exec_sql(f->writer, "COMMIT", NULL, NULL, NULL);
    if (rc) {
        copy_err(c, f->writer);
        if (!sqlite3_get_autocommit(f->writer->db))
            exec_sql(f->writer, "ROLLBACK", NULL, NULL, NULL);
    }
    f->batch_open = 0;
    gate_leave(f);
    c->in_gate = 0;
    if (!rc && group_commit(f) != 0) {
        set_err(c, "committed but could not make it durable: fdatasync of %s failed",
                f->wal_path);
        rc = CD_EIO;
    }
    batch_publish(f, members, rc);
    if (!rc)
        maybe_checkpoint(c); /* on c's own idle connection, not the writer */
    return rc;
}

/* c's request is done with the open, intact batch (gate held on entry,
 * released inside): hand the batch to a waiting request, or end it.
 * wait != 0 returns only once the batch has ended, with its outcome;
 * otherwise returns 0 unless c itself ends the batch. */
static int batch_hand_on(store_conn *c, int wait)
{
    shared_file *f = c->shared;
    batch_waiter me = {0};

    if (gate_pass(f, wait ? &me : NULL)) {
        c->in_gate = 0;
        return wait ? batch_wait(f, &me) : 0;
    }
    if (f->batch_members == 0) { /* nothing to keep: end it quietly */
        exec_sql(f->writer, "ROLLBACK", NULL, NULL, NULL);
        f->batch_open = 0;
        gate_leave(f);
        c->in_gate = 0;
        return 0;
    }
    return batch_commit(c);
}

static int batch_join(store_conn *c)
{
    shared_file *f = c->shared;
    int rc;
    if (gate_enter(f) != 0) {
        set_err(c, "database is locked (another write transaction of this process)");
        return CD_EBUSY;
    }
    c->in_gate = 1;
    rc = writer_open(c);
    if (!rc && !f->batch_open)
        rc = batch_begin(f);
    if (!rc)
        rc = exec_sql(f->writer, "SAVEPOINT request", NULL, NULL, NULL);
    if (!rc) {
        c->in_batch = 1;
        c->batch = f->batch_id;
        c->in_tx = 1;
        c->tx_failed = 0;
        return 0;
    }
    if (f->writer)
        copy_err(c, f->writer);
    if (f->batch_open && sqlite3_get_autocommit(f->writer->db)) {
        batch_abort(f, CD_EIO);
    } else if (f->batch_open) {
        /* Earlier members may have released into this batch because we
         * waited: pass it on or commit it for them, never abandon it. */
        batch_hand_on(c, 0);
        return rc;
    }
    gate_leave(f);
    c->in_gate = 0;
    return rc;
}

/* Ends c's part of the batch: keep != 0 releases its savepoint (commit),
 * else rolls it back. Returns once the outcome is known.
 *
 * A request that rolls back still waits for the batch when earlier members
 * kept work: it may have read their rows (or hit a unique violation on
 * one) while they were not yet committed, and must not answer on the
 * strength of data that could still be lost, nor retry a read that would
 * not yet see them (store's idempotency replay does exactly that). */
static int batch_end(store_conn *c, int keep)
{
    shared_file *f = c->shared;
    store_conn *w = f->writer;
    int rc = 0, outcome;

    c->in_batch = 0;
    c->in_tx = 0;
    c->tx_failed = 0;
    if (!f->batch_open || f->batch_id != c->batch) {
        /* Only c's own statement can have ended it (c holds the gate), and
         * that set tx_failed, so keep is 0 here; batch_abort told the
         * others. */
        gate_leave(f);
        c->in_gate = 0;
        if (keep)
            set_err(c, "the write transaction was lost to an earlier failure");
        return keep ? CD_EIO : 0;
    }
    if (keep && exec_sql(w, "RELEASE request", NULL, NULL, NULL) != 0) {
        copy_err(c, w);
        keep = 0;
        rc = CD_EIO;
    }
    if (!keep && !sqlite3_get_autocommit(w->db)) {
        exec_sql(w, "ROLLBACK TO request", NULL, NULL, NULL);
        exec_sql(w, "RELEASE request", NULL, NULL, NULL);
    }
    if (sqlite3_get_autocommit(w->db)) {
        /* The writer's transaction ended under a failed RELEASE or ROLLBACK
         * TO: the members' work is gone. Passing the gate on would let the
         * next SAVEPOINT open a fresh transaction, and a later COMMIT report
         * success to members whose rows were lost. */
        batch_abort(f, CD_EIO);
        gate_leave(f);
        c->in_gate = 0;
        return CD_EIO;
    }
    f->batch_members += keep;
    outcome = batch_hand_on(c, f->batch_members > 0);
    return keep ? outcome : rc;
}

/* After a statement of c's request ran on the writer: an error marks the
 * request failed, and if the writer's transaction is gone (I/O error, full
 * disk, or a COMMIT/ROLLBACK in the SQL itself) so is every member's work:
 * the batch fails as a whole and is not passed on. */
static int batch_after(store_conn *c, int rc)
{
    shared_file *f = c->shared;
    int ended = sqlite3_get_autocommit(f->writer->db);

    if (rc == 0 && !ended)
        return 0;
    c->tx_failed = 1;
    if (ended) {
        if (rc == 0) {
            set_err(c, "the statement ended the shared write transaction");
            rc = CD_EIO;
        }
        batch_abort(f, rc);
    }
    return rc;
}

/* Runs one statement of a batched write transaction on the writer. */
static int batch_exec(store_conn *c, const char *sql, json_t *params, json_t **rows_out,
                      int64_t *changes_out)
{
    shared_file *f = c->shared;
    int rc;
    if (!f->batch_open || f->batch_id != c->batch) {
        c->tx_failed = 1;
        set_err(c, "the write transaction was lost to an earlier failure");
        return CD_EIO;
    }
    rc = exec_sql(f->writer, sql, params, rows_out, changes_out);
    if (rc)
        copy_err(c, f->writer);
    rc = batch_after(c, rc);
    if (rc && rows_out && *rows_out) { /* a success undone by batch_after */
        json_decref(*rows_out);
        *rows_out = NULL;
    }
    return rc;
}

/* Runs a script inside a batched write transaction on the writer. */
static int batch_exec_script(store_conn *c, const char *sql)
{
    shared_file *f = c->shared;
    char *msg = NULL;
    int rc;

    if (!f->batch_open || f->batch_id != c->batch)
        return batch_exec(c, "SELECT 1", NULL, NULL, NULL); /* reports the loss */
    rc = sqlite3_exec(f->writer->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        set_err(c, "%s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        rc = map_sqlite(rc);
    }
    return batch_after(c, rc);
}

/* A transaction fails as a whole, as in PostgreSQL: after an error inside
 * it every statement fails until rollback, and commit rolls back. SQLite
 * alone would undo only the failed statement and commit the rest, and code
 * relying on that would break on PostgreSQL. */
static int tx_aborted(store_conn *c)
{
    set_err(c, "current transaction is aborted by an earlier error; roll it back");
    return CD_EIO;
}

static int sq_exec(store_conn *c, const char *sql, json_t *params, json_t **rows_out,
                   int64_t *changes_out)
{
    int rc;

    if (rows_out)
        *rows_out = NULL;
    if (changes_out)
        *changes_out = 0;
    if (c->tx_failed)
        return tx_aborted(c);
    if (c->in_batch)
        return batch_exec(c, sql, params, rows_out, changes_out);
    rc = exec_sql(c, sql, params, rows_out, changes_out);
    c->tx_failed = rc != 0 && c->in_tx;
    return rc;
}

static int sq_exec_script(store_conn *c, const char *sql)
{
    char *msg = NULL;
    int rc;

    if (c->tx_failed)
        return tx_aborted(c);
    if (c->in_batch)
        return batch_exec_script(c, sql);
    rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    gate_check(c);
    if (rc != SQLITE_OK) {
        set_err(c, "%s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        c->tx_failed = c->in_tx;
        return map_sqlite(rc);
    }
    return sqlite3_get_autocommit(c->db) ? make_durable(c) : 0;
}

static int sq_begin(store_conn *c, int write)
{
    int rc;

    if (c->in_tx) {
        set_err(c, "a transaction is already open on this connection");
        return CD_EIO;
    }
    if (write && c->shared && !c->is_writer)
        return batch_join(c);
    if (write && c->shared && !c->in_gate) {
        if (gate_enter(c->shared) != 0) {
            set_err(c, "database is locked (another write transaction of this process)");
            return CD_EBUSY;
        }
        c->in_gate = 1;
    }
    /* IMMEDIATE takes the write lock now: a deferred transaction that
     * writes later can fail with SQLITE_BUSY_SNAPSHOT, without waiting. */
    rc = exec_sql(c, write ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL, NULL);
    c->in_tx = rc == 0;
    c->tx_failed = 0;
    return rc;
}

static int sq_rollback(store_conn *c)
{
    if (c->in_batch)
        return batch_end(c, 0);
    c->in_tx = 0;
    c->tx_failed = 0;
    /* Some errors (I/O, full disk, out of memory) already rolled back. */
    if (sqlite3_get_autocommit(c->db)) {
        gate_check(c);
        return 0;
    }
    return exec_sql(c, "ROLLBACK", NULL, NULL, NULL);
}

/* The gate opens inside exec_sql, as soon as COMMIT returns, so the next
 * writer runs while this one waits for its fdatasync. A failed COMMIT ends
 * the transaction, as in PostgreSQL. */
static int sq_commit(store_conn *c)
{
    int wrote, rc;

    if (c->tx_failed) {
        sq_rollback(c);
        set_err(c, "transaction was aborted by an earlier error; COMMIT rolled back");
        return CD_EIO;
    }
    if (c->in_batch)
        return batch_end(c, 1);
    wrote = sqlite3_txn_state(c->db, NULL) == SQLITE_TXN_WRITE;
    rc = exec_sql(c, "COMMIT", NULL, NULL, NULL);
    c->in_tx = 0;
    if (rc != 0) {
        if (!sqlite3_get_autocommit(c->db))
            exec_sql(c, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return wrote ? make_durable(c) : 0;
}

static const char *sq_errmsg(store_conn *c)
{
    return c->err;
}

/* Runs a PRAGMA and copies its first result column into out ("" if none). */
static int pragma(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        snprintf(out, outlen, "%s",
                 rc == SQLITE_ROW && sqlite3_column_text(st, 0)
                     ? (const char *)sqlite3_column_text(st, 0)
                     : "");
        rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

/* WAL + synchronous=NORMAL + our group-commit fdatasync when the database
 * is a file that can do WAL; otherwise synchronous=FULL lets SQLite sync
 * every commit itself. */
static int configure_durability(store_conn *c)
{
    const char *path = sqlite3_db_filename(c->db, "main");
    char mode[16];
    int rc = pragma(c->db, "PRAGMA journal_mode=WAL", mode, sizeof mode);

    if (rc != SQLITE_OK)
        return rc;
    if (strcmp(mode, "wal") != 0 || !path || !*path)
        return pragma(c->db, "PRAGMA synchronous=FULL", mode, sizeof mode);
    rc = pragma(c->db, "PRAGMA synchronous=NORMAL", mode, sizeof mode);
    if (rc != SQLITE_OK)
        return rc;
    c->shared = shared_acquire(path, sqlite3_filename_wal(path));
    if (!c->shared)
        return SQLITE_NOMEM;
    sqlite3_wal_hook(c->db, on_wal_commit, c->shared); /* replaces auto-checkpoint */
    return SQLITE_OK;
}

static int configure(store_conn *c)
{
    char ignored[16];
    int rc;

    sqlite3_extended_result_codes(c->db, 1);
    rc = sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS); /* first: WAL switch may wait */
    if (rc == SQLITE_OK)
        rc = configure_durability(c);
    if (rc == SQLITE_OK)
        rc = pragma(c->db, "PRAGMA foreign_keys=ON", ignored, sizeof ignored);
    /* Each request of a batch runs in a savepoint, whose journal (the
     * original of every page it changes) is only for rolling it back; in
     * a file it would cost a write() per page touched. */
    if (rc == SQLITE_OK)
        rc = pragma(c->db, "PRAGMA temp_store=MEMORY", ignored, sizeof ignored);
    return rc;
}

static void sq_disconnect(store_conn *c)
{
    if (!c)
        return;
    if (c->in_batch)
        batch_end(c, 0);
    for (int i = 0; i < STMT_CACHE_SIZE; i++)
        cache_clear_slot(&c->cache[i]);
    sqlite3_close_v2(c->db); /* rolls back an open transaction */
    if (c->in_gate)
        gate_leave(c->shared);
    if (!c->is_writer)
        shared_release(c->shared);
    cd_free(c);
}

static int sq_connect(const char *target, store_conn **out, char *err, size_t errlen)
{
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    store_conn *c = cd_calloc(1, sizeof *c);
    int rc;

    *out = NULL;
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", target);
        return CD_EIO;
    }
    rc = sqlite3_open_v2(target, &c->db, flags, NULL);
    if (rc == SQLITE_OK)
        rc = configure(c);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", target,
                 c->db && sqlite3_errcode(c->db) != SQLITE_OK ? sqlite3_errmsg(c->db)
                                                               : sqlite3_errstr(rc));
        sq_disconnect(c);
        return CD_EIO;
    }
    *out = c;
    return 0;
}

const store_backend store_sqlite_backend = {
    .name = "sqlite",
    /* Rows are never deleted from the tables with ids that matter, so plain
     * rowids never repeat; AUTOINCREMENT would add a write per insert. */
    .id_column = "INTEGER PRIMARY KEY",
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .exec = sq_exec,
    .exec_script = sq_exec_script,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .errmsg = sq_errmsg,
};

/* imap.c - see imap.h. libcurl connects, does TLS or STARTTLS and logs in
 * (CURLOPT_CONNECT_ONLY); the commands after that are sent and their
 * answers read here, literals included, so a message is taken byte for
 * byte whatever its lines look like. */
#include "server/imap.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/mail.h"
#include "server/netguard.h"

#include <curl/curl.h>
#include <ctype.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LEASE_MS (10 * 60 * 1000) /* renewed after every message */
#define MESSAGE_MAX (64u << 20)   /* as mail-ingest: larger ones stay in the mailbox */
#define LINE_MAX_BYTES (1u << 20)
#define PER_POLL 500 /* messages per poll; the next poll follows at once */
#define MAX_WORKERS 32

struct imap_poller {
    store *st;
    char name[128];
    char ca_file[1024];
    int timeout_ms, idle_ms, nworkers, allow_private;
    pthread_t workers[MAX_WORKERS];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int stopping(imap_poller *p)
{
    pthread_mutex_lock(&p->mu);
    int s = p->stop;
    pthread_mutex_unlock(&p->mu);
    return s;
}

/* --- one IMAP session ---------------------------------------------------- */

typedef struct sess {
    imap_poller *p;
    CURL *c;
    curl_socket_t fd;
    char *buf; /* received, not yet read: buf[off, len) */
    size_t off, len, cap;
    unsigned tag;
    char *line; /* the response being read, without its literals */
    size_t line_len, line_cap;
    char *lit; /* its first literal */
    size_t lit_len;
    int lit_over; /* ... was larger than MESSAGE_MAX and skipped */
    int has_lit;
    netguard guard; /* where the connection may go (the transfer points at it) */
    char err[512];
} sess;

static int fail(sess *s, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(sess *s, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return rc;
}

/* Waits until the socket is ready (events) within the step's timeout,
 * giving up when the poller stops. */
static int wait_fd(sess *s, short events, int64_t deadline)
{
    for (;;) {
        if (stopping(s->p))
            return fail(s, CD_EIO, "the server is stopping");
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return fail(s, CD_EIO, "the IMAP server did not answer within %d ms",
                        s->p->timeout_ms);
        struct pollfd pfd = {.fd = s->fd, .events = events};
        int n = poll(&pfd, 1, left < 200 ? (int)left : 200);
        if (n > 0)
            return 0;
    }
}

/* Reads more into the buffer (at least one byte). */
static int fill(sess *s)
{
    if (s->off > 0 && s->off == s->len)
        s->off = s->len = 0;
    if (s->cap - s->len < 16384) {
        if (s->off > 0) {
            memmove(s->buf, s->buf + s->off, s->len - s->off);
            s->len -= s->off;
            s->off = 0;
        }
        if (s->cap - s->len < 16384) {
            size_t cap = s->cap ? s->cap * 2 : 65536;
            char *b = cd_realloc(s->buf, cap);
            if (!b)
                return fail(s, CD_ENOMEM, "out of memory");
            s->buf = b;
            s->cap = cap;
        }
    }
    int64_t deadline = now_ms() + s->p->timeout_ms;
    for (;;) {
        size_t got = 0;
        CURLcode res = curl_easy_recv(s->c, s->buf + s->len, s->cap - s->len, &got);
        if (res == CURLE_OK && got == 0)
            return fail(s, CD_EIO, "the IMAP server closed the connection");
        if (res == CURLE_OK) {
            s->len += got;
            return 0;
        }
        if (res != CURLE_AGAIN)
            return fail(s, CD_EIO, "reading from the IMAP server: %s", curl_easy_strerror(res));
        int rc = wait_fd(s, POLLIN, deadline);
        if (rc)
            return rc;
    }
}

static int send_all(sess *s, const char *data, size_t n)
{
    int64_t deadline = now_ms() + s->p->timeout_ms;
    while (n > 0) {
        size_t sent = 0;
        CURLcode res = curl_easy_send(s->c, data, n, &sent);
        if (res == CURLE_OK) {
            data += sent;
            n -= sent;
            continue;
        }
        if (res != CURLE_AGAIN)
            return fail(s, CD_EIO, "writing to the IMAP server: %s", curl_easy_strerror(res));
        int rc = wait_fd(s, POLLOUT, deadline);
        if (rc)
            return rc;
    }
    return 0;
}

static int line_add(sess *s, const char *p, size_t n)
{
    if (s->line_len + n + 1 > s->line_cap) {
        size_t cap = s->line_cap ? s->line_cap : 256;
        while (cap < s->line_len + n + 1)
            cap *= 2;
        char *l = cd_realloc(s->line, cap);
        if (!l)
            return fail(s, CD_ENOMEM, "out of memory");
        s->line = l;
        s->line_cap = cap;
    }
    memcpy(s->line + s->line_len, p, n);
    s->line_len += n;
    s->line[s->line_len] = '\0';
    return 0;
}

/* Reads a literal of n bytes: kept as the response's literal if it is its
 * first and not too large, else read past. */
static int literal(sess *s, uint64_t n)
{
    int keep = !s->has_lit && n <= MESSAGE_MAX;
    if (!s->has_lit) {
        s->has_lit = 1;
        s->lit_over = n > MESSAGE_MAX;
        if (keep) {
            s->lit = cd_malloc(n + 1);
            if (!s->lit)
                return fail(s, CD_ENOMEM, "out of memory");
        }
    }
    uint64_t done = 0;
    while (done < n) {
        if (s->off == s->len) {
            int rc = fill(s);
            if (rc)
                return rc;
        }
        size_t k = s->len - s->off;
        if (k > n - done)
            k = (size_t)(n - done);
        if (keep)
            memcpy(s->lit + done, s->buf + s->off, k);
        s->off += k;
        done += k;
    }
    if (keep) {
        s->lit[n] = '\0';
        s->lit_len = (size_t)n;
    }
    return 0;
}

/* Reads one response: its text into s->line (literals left out), its
 * first literal into s->lit. */
static int read_response(sess *s)
{
    s->line_len = 0;
    cd_free(s->lit);
    s->lit = NULL;
    s->lit_len = 0;
    s->has_lit = s->lit_over = 0;
    size_t scanned = 0;
    for (;;) {
        char *start = s->buf + s->off;
        char *nl = s->len > s->off + scanned ? memchr(start + scanned, '\n',
                                                      s->len - s->off - scanned)
                                             : NULL;
        if (!nl) {
            scanned = s->len - s->off;
            if (scanned > LINE_MAX_BYTES || s->line_len > LINE_MAX_BYTES)
                return fail(s, CD_EIO, "the IMAP server sent an overlong line");
            int rc = fill(s);
            if (rc)
                return rc;
            continue;
        }
        size_t n = (size_t)(nl - start);
        size_t text = n > 0 && start[n - 1] == '\r' ? n - 1 : n;
        int rc = line_add(s, start, text);
        s->off += n + 1;
        scanned = 0;
        if (rc)
            return rc;
        /* A literal announced at the end of the line: {N} or {N+}. */
        char *end = s->line + s->line_len;
        if (s->line_len < 3 || end[-1] != '}')
            return 0;
        char *q = end - 2;
        if (*q == '+')
            q--;
        while (q > s->line && isdigit((unsigned char)*q))
            q--;
        if (*q != '{' || q + 1 == end - 1)
            return 0;
        uint64_t len = strtoull(q + 1, NULL, 10);
        s->line_len = (size_t)(q - s->line);
        s->line[s->line_len] = '\0';
        if ((rc = line_add(s, "\"\"", 2)) || (rc = literal(s, len)))
            return rc;
    }
}

typedef int (*untagged_fn)(sess *s, const char *line, void *arg);

/* Sends one command and reads the answers until its tagged one; untagged
 * answers go to fn. 0 on OK; CD_ESTATE on NO or BAD, with the server's
 * words in s->err. */
static int command(sess *s, untagged_fn fn, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int command(sess *s, untagged_fn fn, void *arg, const char *fmt, ...)
{
    char cmd[1200], tag[16];
    snprintf(tag, sizeof tag, "c%u", ++s->tag);
    int k = snprintf(cmd, sizeof cmd, "%s ", tag);
    va_list ap;
    va_start(ap, fmt);
    k += vsnprintf(cmd + k, sizeof cmd - (size_t)k - 2, fmt, ap);
    va_end(ap);
    if ((size_t)k > sizeof cmd - 3)
        return fail(s, CD_EINVAL, "IMAP command too long");
    memcpy(cmd + k, "\r\n", 3);
    int rc = send_all(s, cmd, (size_t)k + 2);
    size_t taglen = strlen(tag);
    while (!rc) {
        rc = read_response(s);
        if (rc)
            break;
        if (strncmp(s->line, tag, taglen) == 0 && s->line[taglen] == ' ') {
            const char *st = s->line + taglen + 1;
            if (strncasecmp(st, "OK", 2) == 0)
                return 0;
            return fail(s, CD_ESTATE, "the IMAP server refused %.*s: %.300s", k - (int)taglen - 1,
                        cmd + taglen + 1, st);
        }
        if (s->line[0] == '*' && fn)
            rc = fn(s, s->line, arg);
        else if (s->line[0] == '+')
            rc = fail(s, CD_EIO, "the IMAP server asked for more of a command");
    }
    return rc;
}

/* A quoted IMAP string of text (no CR, LF or NUL). */
static int quoted(const char *text, char *out, size_t cap)
{
    size_t w = 0;
    if (cap < 3)
        return -1;
    out[w++] = '"';
    for (const char *p = text; *p; p++) {
        if (*p == '\r' || *p == '\n' || w + 4 > cap)
            return -1;
        if (*p == '"' || *p == '\\')
            out[w++] = '\\';
        out[w++] = *p;
    }
    out[w++] = '"';
    out[w] = '\0';
    return 0;
}

/* --- the answers we read ------------------------------------------------- */

typedef struct select_info {
    int64_t uidvalidity;
} select_info;

static int on_select(sess *s, const char *line, void *arg)
{
    select_info *si = arg;
    const char *p = strcasestr(line, "[UIDVALIDITY ");
    if (p)
        si->uidvalidity = strtoll(p + 13, NULL, 10);
    return 0;
}

typedef struct caps {
    int move, uidplus;
} caps;

static int has_word(const char *line, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = line; (p = strcasestr(p, w)); p += n)
        if (p > line && p[-1] == ' ' && (p[n] == ' ' || p[n] == '\0' || p[n] == ']'))
            return 1;
    return 0;
}

static int on_capability(sess *s, const char *line, void *arg)
{
    caps *c = arg;
    if (strncasecmp(line, "* CAPABILITY ", 13) == 0) {
        c->move = has_word(line, "MOVE");
        c->uidplus = has_word(line, "UIDPLUS");
    }
    return 0;
}

typedef struct uids {
    int64_t above;
    int64_t *v;
    size_t n, cap;
} uids;

static int on_search(sess *s, const char *line, void *arg)
{
    uids *u = arg;
    if (strncasecmp(line, "* SEARCH", 8) != 0)
        return 0;
    for (const char *p = line + 8; *p;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        p = end;
        if (v <= u->above)
            continue;
        if (u->n == u->cap) {
            size_t cap = u->cap ? u->cap * 2 : 64;
            int64_t *nv = cd_realloc(u->v, cap * sizeof *nv);
            if (!nv)
                return fail(s, CD_ENOMEM, "out of memory");
            u->v = nv;
            u->cap = cap;
        }
        u->v[u->n++] = v;
    }
    return 0;
}

static int cmp_uid(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct fetched {
    int64_t uid;
    char *raw;
    size_t len;
    int got, over;
} fetched;

static int on_fetch(sess *s, const char *line, void *arg)
{
    fetched *f = arg;
    const char *p = strcasestr(line, " FETCH ");
    if (!p || !s->has_lit)
        return 0;
    const char *u = strcasestr(p, "UID ");
    if (u && strtoll(u + 4, NULL, 10) != f->uid)
        return 0;
    f->got = 1;
    f->over = s->lit_over;
    cd_free(f->raw);
    f->raw = s->lit;
    f->len = s->lit_len;
    s->lit = NULL;
    s->lit_len = 0;
    return 0;
}

/* --- one poll ------------------------------------------------------------ */

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static int64_t jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static int is_loopback(const char *host, size_t n)
{
    return (n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           (n >= 4 && strncmp(host, "127.", 4) == 0) || (n == 5 && strncmp(host, "[::1]", 5) == 0);
}

/* The mailbox named by the URL's path (percent-decoded), INBOX if none. */
static void mailbox_of(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    size_t w = 0;
    for (p = p ? p + 1 : ""; *p && *p != ';' && *p != '?' && w + 1 < cap; p++) {
        if (*p == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], 0};
            out[w++] = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            out[w++] = *p;
        }
    }
    out[w] = '\0';
    if (!*out)
        snprintf(out, cap, "INBOX");
}

static int progress_cb(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    return stopping(arg);
}

static int connect_login(sess *s, json_t *box)
{
    const char *url = jstr(box, "imap_url");
    s->c = curl_easy_init();
    if (!s->c)
        return fail(s, CD_ENOMEM, "out of memory");
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(s->c, CURLOPT_URL, url);
    curl_easy_setopt(s->c, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(s->c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->c, CURLOPT_CONNECTTIMEOUT_MS, (long)s->p->timeout_ms);
    curl_easy_setopt(s->c, CURLOPT_TIMEOUT_MS, (long)s->p->timeout_ms);
    curl_easy_setopt(s->c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(s->c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(s->c, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(s->c, CURLOPT_XFERINFODATA, s->p);
    curl_easy_setopt(s->c, CURLOPT_PROTOCOLS_STR, "imap,imaps");
    if (*s->p->ca_file)
        curl_easy_setopt(s->c, CURLOPT_CAINFO, s->p->ca_file);
    s->guard.allow_private = s->p->allow_private;
    netguard_apply(s->c, &s->guard);
    if (strncasecmp(url, "imap://", 7) == 0) {
        const char *host = url + 7, *at = strchr(host, '@');
        if (at && at < host + strcspn(host, "/"))
            host = at + 1;
        size_t n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":/");
        curl_easy_setopt(s->c, CURLOPT_USE_SSL,
                         is_loopback(host, n) ? (long)CURLUSESSL_TRY : (long)CURLUSESSL_ALL);
    }
    curl_easy_setopt(s->c, CURLOPT_USERNAME, jstr(box, "imap_user"));
    curl_easy_setopt(s->c, CURLOPT_PASSWORD, jstr(box, "imap_password"));
    CURLcode res = curl_easy_perform(s->c);
    if (netguard_refused(&s->guard, res))
        return fail(s, CD_EINVAL, "refused to connect to %s: %s is not a public address", url,
                    s->guard.refused);
    if (res != CURLE_OK)
        return fail(s, CD_EIO, "cannot log in to %s: %s", url,
                    *errbuf ? errbuf : curl_easy_strerror(res));
    curl_socket_t fd;
    if (curl_easy_getinfo(s->c, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK ||
        fd == CURL_SOCKET_BAD)
        return fail(s, CD_EIO, "no connection to %s", url);
    s->fd = fd;
    return 0;
}

static int begin(imap_poller *p, store_tx **tx)
{
    store_ctx sys;
    store_ctx_system(&sys);
    return store_begin(p->st, &sys, now_ms(), 1, tx);
}

/* Runs fn in a transaction of its own, again while the store is busy. */
typedef int (*tx_fn)(store_tx *tx, void *arg);

static int in_tx(imap_poller *p, tx_fn fn, void *arg)
{
    int rc = CD_EBUSY;
    for (int attempt = 0; attempt < 3 && rc == CD_EBUSY; attempt++) {
        store_tx *tx = NULL;
        if (attempt)
            nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
        rc = begin(p, &tx);
        if (!rc)
            rc = fn(tx, arg);
        if (!rc)
            rc = store_commit(tx);
        else if (tx)
            store_rollback(tx);
    }
    return rc;
}

typedef struct advance_arg {
    imap_poller *p;
    int64_t client, uidvalidity, uid;
} advance_arg;

static int advance_fn(store_tx *tx, void *arg)
{
    advance_arg *a = arg;
    return store_imap_advance(tx, a->client, a->p->name, a->uidvalidity, a->uid, LEASE_MS);
}

/* Stores one message (the store's receive path, committed): 0 and whether
 * it was already there, or an error. */
static int receive(sess *s, int64_t client, const fetched *f, int *duplicate)
{
    mail_msg *m = NULL;
    json_t *out = NULL;
    *duplicate = 0;
    int rc = mail_parse(f->raw, f->len, &m);
    if (rc)
        return fail(s, rc, "message UID %" PRId64 " cannot be read: %s", f->uid, cd_strerror(rc));
    char err[400] = "";
    for (int attempt = 0; attempt < 3; attempt++) {
        if (attempt)
            nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
        rc = store_mail_receive(s->p->st, now_ms(), client, f->raw, f->len, m, &out, err,
                                sizeof err);
        if (rc != CD_EBUSY)
            break;
    }
    mail_free(m);
    if (rc) {
        json_decref(out);
        return fail(s, rc, "message UID %" PRId64 " not stored: %s", f->uid, err);
    }
    const char *outcome = jstr(out, "outcome");
    *duplicate = strcmp(outcome, "duplicate") == 0 || strcmp(outcome, "own") == 0;
    json_decref(out);
    return 0;
}

/* What is done to a stored message: flagged \Seen, or moved. */
static int mark(sess *s, json_t *box, const caps *cp, int64_t uid)
{
    if (strcmp(jstr(box, "imap_after"), "move") != 0)
        return command(s, NULL, NULL, "UID STORE %" PRId64 " +FLAGS.SILENT (\\Seen)", uid);
    char folder[600];
    if (quoted(jstr(box, "imap_move_to"), folder, sizeof folder))
        return fail(s, CD_EINVAL, "imap_move_to is not a usable folder name");
    if (cp->move)
        return command(s, NULL, NULL, "UID MOVE %" PRId64 " %s", uid, folder);
    int rc = command(s, NULL, NULL, "UID COPY %" PRId64 " %s", uid, folder);
    if (!rc)
        rc = command(s, NULL, NULL, "UID STORE %" PRId64 " +FLAGS.SILENT (\\Seen \\Deleted)", uid);
    if (!rc)
        rc = cp->uidplus ? command(s, NULL, NULL, "UID EXPUNGE %" PRId64, uid)
                         : command(s, NULL, NULL, "EXPUNGE");
    return rc;
}

typedef struct poll_result {
    int64_t fetched, duplicates;
    int more;
    char note[300]; /* something left in the mailbox */
} poll_result;

static int poll_box(sess *s, json_t *box, poll_result *res)
{
    int64_t client = jint(box, "client_id");
    int64_t known_validity = jint(box, "uidvalidity"), last = jint(box, "last_uid");
    char mailbox[512], q[1100];
    if (*jstr(box, "error"))
        return fail(s, CD_ESTATE, "%s", jstr(box, "error"));
    int rc = connect_login(s, box);
    if (rc)
        return rc;
    caps cp = {0};
    select_info si = {0};
    mailbox_of(jstr(box, "imap_url"), mailbox, sizeof mailbox);
    if (quoted(mailbox, q, sizeof q))
        return fail(s, CD_EINVAL, "the mailbox name is not usable");
    if ((rc = command(s, on_capability, &cp, "CAPABILITY")) ||
        (rc = command(s, on_select, &si, "SELECT %s", q)))
        return rc;
    if (si.uidvalidity <= 0)
        return fail(s, CD_EIO, "the IMAP server gave no UIDVALIDITY for %s", mailbox);
    if (si.uidvalidity != known_validity) {
        /* Another generation of UIDs: read it all again; what is stored
         * already is a duplicate the store drops. */
        last = 0;
        advance_arg a = {s->p, client, si.uidvalidity, 0};
        if ((rc = in_tx(s->p, advance_fn, &a)))
            return fail(s, rc, "the mailbox state cannot be recorded (%s)", cd_strerror(rc));
    }
    uids u = {.above = last};
    rc = command(s, on_search, &u, "UID SEARCH UID %" PRId64 ":*", last + 1);
    if (!rc && u.n > 1)
        qsort(u.v, u.n, sizeof *u.v, cmp_uid);
    for (size_t i = 0; !rc && i < u.n; i++) {
        if (i == PER_POLL) {
            res->more = 1;
            break;
        }
        if (stopping(s->p)) {
            rc = fail(s, CD_EIO, "the server is stopping");
            break;
        }
        fetched f = {.uid = u.v[i]};
        int dup = 0;
        rc = command(s, on_fetch, &f, "UID FETCH %" PRId64 " BODY.PEEK[]", f.uid);
        if (!rc && f.got && !f.over && f.len > 0) {
            rc = receive(s, client, &f, &dup);
            if (!rc) {
                res->fetched++;
                res->duplicates += dup;
            }
        } else if (!rc) {
            /* Nothing to store (gone meanwhile, empty, or over 64 MiB):
             * left where it is, unmarked. */
            if (f.over)
                snprintf(res->note, sizeof res->note,
                         "message UID %" PRId64 " is over 64 MiB and was left in the mailbox",
                         f.uid);
        }
        cd_free(f.raw);
        int stored = !rc && f.got && !f.over && f.len > 0;
        if (stored)
            rc = mark(s, box, &cp, f.uid);
        if (!rc) {
            advance_arg a = {s->p, client, si.uidvalidity, f.uid};
            rc = in_tx(s->p, advance_fn, &a);
            if (rc)
                rc = fail(s, rc, "the mailbox state cannot be recorded (%s)", cd_strerror(rc));
        }
    }
    cd_free(u.v);
    if (!rc)
        command(s, NULL, NULL, "LOGOUT");
    return rc;
}

typedef struct done_arg {
    imap_poller *p;
    int64_t client, next_in;
    const char *error;
    poll_result *res;
} done_arg;

static int done_fn(store_tx *tx, void *arg)
{
    done_arg *d = arg;
    return store_imap_done(tx, d->client, d->p->name, d->error, d->res->fetched,
                           d->res->duplicates, d->next_in);
}

/* Claims one due mailbox and polls it; 1 if there was one. */
static int round_once(imap_poller *p)
{
    store_tx *tx = NULL;
    json_t *box = NULL;
    if (begin(p, &tx))
        return 0;
    if (store_imap_claim(tx, p->name, LEASE_MS, &box) || store_commit(tx)) {
        if (box)
            store_rollback(tx);
        json_decref(box);
        return 0;
    }
    if (!box)
        return 0;
    sess s = {.p = p, .fd = CURL_SOCKET_BAD};
    poll_result res = {0};
    int rc = poll_box(&s, box, &res);
    if (s.c)
        curl_easy_cleanup(s.c);
    cd_free(s.buf);
    cd_free(s.line);
    cd_free(s.lit);
    int64_t client = jint(box, "client_id");
    int64_t every = jint(box, "imap_poll_seconds") * 1000;
    done_arg d = {p, client, res.more ? 0 : every > 0 ? every : 60000, rc ? s.err : res.note,
                  &res};
    if (rc)
        fprintf(stderr, "caredesk: mailbox of client %lld: %s\n", (long long)client, s.err);
    json_object_set_new(box, "imap_password", json_string(""));
    json_decref(box);
    in_tx(p, done_fn, &d);
    return 1;
}

static void *run(void *arg)
{
    imap_poller *p = arg;
    for (;;) {
        int busy = round_once(p);
        pthread_mutex_lock(&p->mu);
        if (!p->stop && !busy) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)(p->idle_ms % 1000) * 1000000L;
            ts.tv_sec += p->idle_ms / 1000 + ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        }
        int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
    }
    return NULL;
}

static void curl_start(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int imap_poller_start(store *st, const imap_config *cfg, imap_poller **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_start);
    imap_poller *p = cd_calloc(1, sizeof *p);
    if (!p)
        return CD_ENOMEM;
    p->st = st;
    snprintf(p->name, sizeof p->name, "%s", cfg->name ? cfg->name : "caredesk");
    snprintf(p->ca_file, sizeof p->ca_file, "%s", cfg->ca_file ? cfg->ca_file : "");
    p->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000;
    p->idle_ms = cfg->idle_ms > 0 ? cfg->idle_ms : 500;
    p->allow_private = cfg->allow_private;
    int want = cfg->workers > 0 ? cfg->workers : 4;
    if (want > MAX_WORKERS)
        want = MAX_WORKERS;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (; p->nworkers < want; p->nworkers++)
        if (pthread_create(&p->workers[p->nworkers], NULL, run, p) != 0)
            break;
    if (p->nworkers == 0) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        cd_free(p);
        return CD_EIO;
    }
    *out = p;
    return 0;
}

void imap_poller_stop(imap_poller *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++)
        pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    cd_free(p);
}

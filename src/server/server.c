/* server.c - libmicrohttpd glue: collects each request, runs it through
 * authentication, permission, validation, idempotency and one store
 * transaction, and writes one response and one log line. */
#include "server/server_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/redact.h"
#include "server/auth.h"
#include "server/intents.h"
#include "server/knowledge.h"
#include "server/perm.h"
#include "server/router.h"
#include "server/routes.h"
#include "server/static_files.h"
#include "server/webhooks.h"

#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#define SERIES_STATIC (routes_count)
#define SERIES_UNMATCHED (routes_count + 1)

uint64_t server_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t server_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- errors ----------------------------------------------------------- */

/* clang-format off */
static int status_for(int err)
{
    switch (err) {
    case CD_EINVAL: return 422;
    case CD_ENOTFOUND: return 404;
    case CD_ECONFLICT: return 409;
    case CD_ESTATE: return 409;
    case CD_EFORBIDDEN: return 403;
    case CD_EAUTH: return 401;
    case CD_ERATE: return 429;
    case CD_ETOOBIG: return 413;
    case CD_EBUSY: return 503;
    default: return 500;
    }
}
/* clang-format on */

/* clang-format off */
static const char *default_message(int err)
{
    switch (err) {
    case CD_ENOTFOUND: return "not found";
    case CD_EFORBIDDEN: return "your role may not do this";
    case CD_EAUTH: return "log in or send an API token";
    case CD_ERATE: return "too many attempts; wait and try again";
    case CD_ETOOBIG: return "the request is too large";
    case CD_EBUSY: return "the store is busy; retry";
    case CD_ECONFLICT: return "conflict";
    case CD_EINVAL: return "invalid request";
    default: return "internal error";
    }
}
/* clang-format on */

int req_fail(req *r, int err, const char *field, const char *msg)
{
    r->status = status_for(err);
    snprintf(r->err_code, sizeof r->err_code, "%s", cd_strerror(err));
    snprintf(r->err_field, sizeof r->err_field, "%s", field ? field : "");
    snprintf(r->err_msg, sizeof r->err_msg, "%s", msg && *msg ? msg : default_message(err));
    return err;
}

/* A malformed request (syntax, types, unknown fields): 400. */
static int req_bad(req *r, int err, const char *field, const char *msg)
{
    req_fail(r, err, field, msg);
    if (err == CD_EINVAL)
        r->status = 400;
    return err;
}

/* After a handler failed: take the store's field and message if it has. */
static void fail_from_store(req *r, int err)
{
    if (r->err_code[0])
        return;
    if (r->tx && err != CD_ENOTFOUND && store_err_message(r->tx)[0])
        req_fail(r, err, store_err_field(r->tx), store_err_message(r->tx));
    else if (r->tx && err == CD_ENOTFOUND)
        req_fail(r, err, store_err_field(r->tx), NULL);
    else
        req_fail(r, err, NULL, NULL);
}

int req_write_tx(req *r)
{
    store_ctx ctx = *store_tx_ctx(r->tx);
    store_rollback(r->tx);
    r->tx = NULL;
    return store_begin(r->srv->st, &ctx, r->now, 1, &r->tx);
}

int req_reply(req *r, int status, int rc)
{
    if (!rc)
        r->status = status;
    return rc;
}

const char *req_header(req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const store_ctx *req_ctx(req *r)
{
    return store_tx_ctx(r->tx);
}

/* --- input ------------------------------------------------------------ */

static int parse_body(req *r)
{
    json_error_t jerr;
    const char *field = "";
    char msg[256];
    int rc;
    if (!r->route->body) {
        if (r->body_len)
            return req_bad(r, CD_EINVAL, "", "this endpoint takes no body");
        return 0;
    }
    if (r->body_len == 0)
        return req_bad(r, CD_EINVAL, "", "a JSON body is required");
    r->in = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!r->in) {
        snprintf(msg, sizeof msg, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return req_bad(r, CD_EINVAL, "", msg);
    }
    rc = jschema_check(r->route->body, r->in, r->route->patch, &field, msg, sizeof msg);
    return rc ? req_bad(r, rc, field, msg) : 0;
}

typedef struct query_walk {
    req *r;
    int rc;
} query_walk;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    query_walk *w = cls;
    const jschema_field *f = w->r->route->query;
    (void)kind;
    for (; f && f->name; f++)
        if (strcmp(f->name, key) == 0)
            break;
    if (!f || !f->name) {
        char msg[128], name[256]; /* masked before it is cut: a cut card is no card */
        snprintf(name, sizeof name, "%s", key);
        redact_buf(name, strlen(name), 0, NULL);
        snprintf(msg, sizeof msg, "unknown query parameter '%.40s'", name);
        w->rc = req_bad(w->r, CD_EINVAL, "", msg);
        return MHD_NO;
    }
    if (!value)
        value = "";
    if (f->type == JS_INT) {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (!*value || *end || errno == ERANGE) {
            w->rc = req_bad(w->r, CD_EINVAL, key, "must be an integer");
            return MHD_NO;
        }
        json_object_set_new(w->r->query, key, json_integer(v));
    } else {
        json_t *s = json_string(value); /* NULL for invalid UTF-8 */
        if (!s) {
            w->rc = req_bad(w->r, CD_EINVAL, key, "must be valid UTF-8 text");
            return MHD_NO;
        }
        json_object_set_new(w->r->query, key, s);
    }
    return MHD_YES;
}

static int parse_query(req *r)
{
    query_walk w = {r, 0};
    const char *field = "";
    char msg[256];
    int rc;
    r->query = json_object();
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &w);
    if (w.rc)
        return w.rc;
    if (json_object_size(r->query) == 0)
        return 0;
    rc = r->route->query ? jschema_check(r->route->query, r->query, 0, &field, msg, sizeof msg) : 0;
    return rc ? req_bad(r, rc, field, msg) : 0;
}

/* --- the pipeline ----------------------------------------------------- */

static int check_csrf(req *r)
{
    const char *sent = req_header(r, "X-CSRF-Token");
    if (!r->via_cookie || strcmp(r->method, "GET") == 0)
        return 0;
    if (!sent || strlen(sent) != strlen(r->csrf) || sodium_memcmp(sent, r->csrf, strlen(sent)) != 0)
        return req_fail(r, CD_EFORBIDDEN, "", "missing or wrong X-CSRF-Token header");
    return 0;
}

/* Replays the stored answer to a retried POST; 1 if it did. */
static int idem_replay(req *r, const char *key, int *rc)
{
    json_t *row = NULL;
    *rc = store_idem_get(r->tx, req_ctx(r)->user_id, key, &row);
    if (*rc == CD_ENOTFOUND) {
        *rc = 0;
        return 0;
    }
    if (*rc)
        return 1;
    if (strcmp(json_string_value(json_object_get(row, "path")), r->url) != 0) {
        *rc = req_fail(r, CD_EINVAL, "Idempotency-Key",
                       "this Idempotency-Key was used for another request");
    } else {
        r->status = (int)json_integer_value(json_object_get(row, "status"));
        r->out = json_loads(json_string_value(json_object_get(row, "body")), 0, NULL);
        snprintf(r->location, sizeof r->location, "replayed");
    }
    json_decref(row);
    return 1;
}

static int idem_save(req *r, const char *key)
{
    char *body =
        r->out ? json_dumps(r->out, JSON_COMPACT | JSON_REAL_PRECISION(12)) : cd_strdup("null");
    int rc =
        body ? store_idem_put(r->tx, req_ctx(r)->user_id, key, r->method, r->url, r->status, body)
             : CD_ENOMEM;
    cd_free(body);
    return rc;
}

static int run_handler(req *r)
{
    const char *key = strcmp(r->method, "POST") == 0 ? req_header(r, "Idempotency-Key") : NULL;
    int rc;
    if (key && (strlen(key) == 0 || strlen(key) > 200))
        return req_bad(r, CD_EINVAL, "Idempotency-Key", "Idempotency-Key must be 1-200 bytes");
    if (key && idem_replay(r, key, &rc))
        return rc;
    rc = r->route->fn(r);
    if (!rc && key && r->status < 300)
        rc = idem_save(r, key);
    return rc;
}

/* A concurrent request with the same Idempotency-Key committed first (our
 * insert of the stored answer collided): answer as it did. 1 if replayed. */
static int replay_after_race(req *r)
{
    const char *key = req_header(r, "Idempotency-Key");
    store_ctx anon;
    int rc = 0, replayed = 0;
    if (!key || strcmp(r->method, "POST") != 0)
        return 0;
    memset(&anon, 0, sizeof anon);
    if (store_begin(r->srv->st, &anon, r->now, 0, &r->tx))
        return 0;
    json_decref(r->out);
    r->out = NULL;
    if (!auth_request(r) && idem_replay(r, key, &rc) && !rc && r->out)
        replayed = 1;
    store_rollback(r->tx);
    r->tx = NULL;
    if (replayed)
        r->err_code[0] = '\0';
    return replayed;
}

/* Who is calling and may they do this: credentials, role, CSRF. */
static int admit(req *r)
{
    int rc = auth_request(r);
    if (!rc && r->route->action && !perm_allows(req_ctx(r)->role, r->route->action))
        rc = req_fail(r, CD_EFORBIDDEN, "", NULL);
    if (!rc)
        rc = check_csrf(r);
    return rc;
}

/* For writes, the caller is admitted in a read transaction of its own, so
 * the write lock is held only for the work itself. */
static int admit_before_write(req *r, store_ctx *ctx)
{
    int rc = store_begin(r->srv->st, ctx, r->now, 0, &r->tx);
    if (rc)
        return req_fail(r, rc, NULL, NULL);
    rc = admit(r);
    if (!rc)
        *ctx = *req_ctx(r);
    else
        fail_from_store(r, rc);
    store_rollback(r->tx);
    r->tx = NULL;
    return rc;
}

static int run_in_tx(req *r)
{
    store_ctx ctx;
    int write = (r->route->flags & R_WRITE) != 0, pub = (r->route->flags & R_PUBLIC) != 0;
    int rc = 0;
    memset(&ctx, 0, sizeof ctx);
    if (write && !pub && (rc = admit_before_write(r, &ctx)))
        return rc;
    rc = store_begin(r->srv->st, &ctx, r->now, write, &r->tx);
    if (rc)
        return req_fail(r, rc, NULL, NULL);
    if (!write && !pub)
        rc = admit(r);
    if (!rc)
        rc = run_handler(r);
    if (rc) {
        fail_from_store(r, rc);
        store_rollback(r->tx);
        r->tx = NULL;
        return rc == CD_ECONFLICT && replay_after_race(r) ? 0 : rc;
    }
    unsigned fx = store_tx_effects(r->tx);
    rc = store_commit(r->tx);
    r->tx = NULL;
    if (!rc && write) {
        router_kick(r->srv->router);
        /* The other followers only when the request wrote what they follow. */
        if (fx & STORE_FX_KB)
            knowledge_kick(r->srv->knowledge);
        if (fx & STORE_FX_INTENT)
            intents_kick(r->srv->intents);
        if (fx & STORE_FX_WEBHOOK)
            webhooks_kick(r->srv->webhooks);
    }
    if (rc == CD_ECONFLICT && replay_after_race(r))
        return 0;
    if (rc)
        req_fail(r, rc, NULL, NULL);
    return rc;
}

static void dispatch_api(req *r)
{
    int mismatch = 0;
    r->route = routes_match(r->method, r->url, r->ids, &mismatch);
    if (!r->route) {
        req_fail(r, CD_ENOTFOUND, "", mismatch ? "method not allowed here" : "no such endpoint");
        if (mismatch) {
            r->status = 405;
            snprintf(r->err_code, sizeof r->err_code, "method_not_allowed");
        }
        return;
    }
    if (r->body_too_big) {
        req_fail(r, CD_ETOOBIG, "", "the body is over the limit");
        return;
    }
    if (parse_query(r) || parse_body(r))
        return;
    if (r->route->flags & R_NOSTORE) {
        int rc = r->route->fn(r);
        if (rc)
            fail_from_store(r, rc);
        return;
    }
    run_in_tx(r);
}

/* --- output ----------------------------------------------------------- */

static struct MHD_Response *error_response(req *r)
{
    /* Messages may name what the caller sent (an unknown field's name):
     * masked like any free text, whatever was typed there. */
    redact_buf(r->err_msg, strlen(r->err_msg), 0, NULL);
    redact_buf(r->err_field, strlen(r->err_field), 0, NULL);
    json_t *e = json_pack("{s:{s:s, s:s, s:s}}", "error", "code", r->err_code, "message",
                          r->err_msg, "field", r->err_field);
    char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    if (!text)
        text = cd_strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\","
                         "\"field\":\"\"}}");
    return MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
}

/* A stream: subscribe, then send the handler's initial events
 * (r->out: [{event, data}]). */
static struct MHD_Response *stream_response(req *r)
{
    struct MHD_Response *resp = hub_subscribe(
        r->srv->hub, r->conn, (hub_topic)(r->stream_topic - 1), r->stream_key, r->user_id);
    json_t *e;
    size_t i;
    json_array_foreach (r->out, i, e) {
        char *data = json_dumps(json_object_get(e, "data"), JSON_COMPACT | JSON_ENCODE_ANY);
        if (data)
            hub_send_to_conn(r->srv->hub, r->conn, json_string_value(json_object_get(e, "event")),
                             data);
        cd_free(data);
    }
    return resp;
}

static struct MHD_Response *build_response(req *r)
{
    struct MHD_Response *resp;
    const char *type = "application/json";
    if (r->err_code[0]) {
        resp = error_response(r);
    } else if (r->stream_topic) {
        return stream_response(r);
    } else if (r->raw) {
        resp = MHD_create_response_from_buffer(strlen(r->raw), r->raw, MHD_RESPMEM_MUST_FREE);
        r->raw = NULL;
        type = r->raw_type;
    } else if (r->out) {
        char *text = json_dumps(r->out, JSON_COMPACT | JSON_REAL_PRECISION(12));
        if (!text) {
            req_fail(r, CD_ENOMEM, NULL, NULL);
            return error_response(r);
        }
        resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        type = NULL;
    }
    if (!resp)
        return NULL;
    if (type)
        MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->set_cookie[0])
        MHD_add_response_header(resp, "Set-Cookie", r->set_cookie);
    if (strcmp(r->location, "replayed") == 0)
        MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    if (r->status == 503)
        MHD_add_response_header(resp, "Retry-After", "1");
    if (r->status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"caredesk\"");
    return resp;
}

/* One line per request; never a body, a token or a password. */
static void log_request(req *r, const char *label)
{
    if (!r->srv->cfg.log_requests)
        return;
    fprintf(stderr, "method=%s route=%s status=%d us=%" PRIu64 " user=%" PRId64 "\n", r->method,
            label, r->status, server_now_us() - r->start_us, r->user_id);
}

static size_t series_of(const req *r)
{
    if (r->route)
        return (size_t)(r->route - routes);
    return r->is_static ? SERIES_STATIC : SERIES_UNMATCHED;
}

static const char *label_of(const req *r)
{
    if (r->route)
        return r->route->pattern;
    return r->is_static ? "static" : "unmatched";
}

static enum MHD_Result respond(req *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    if (strncmp(r->url, "/api/", 5) == 0 || strcmp(r->url, "/healthz") == 0 ||
        strcmp(r->url, "/metrics") == 0) {
        dispatch_api(r);
        resp = build_response(r);
    } else {
        r->is_static = 1;
        resp = static_files_serve(r->srv->web_root, r->method, r->url, &r->status);
    }
    if (!resp)
        return MHD_NO;
    ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    metrics_observe(r->srv->metrics, series_of(r), r->status, server_now_us() - r->start_us);
    log_request(r, label_of(r));
    return ret;
}

/* --- libmicrohttpd callbacks ------------------------------------------ */

static void peer_address(req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    snprintf(r->address, sizeof r->address, "unknown");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->address,
                  sizeof r->address);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->address,
                  sizeof r->address);
}

static req *req_new(server *srv, struct MHD_Connection *conn, const char *method, const char *url)
{
    req *r = cd_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->srv = srv;
    r->conn = conn;
    r->method = method;
    r->url = url;
    r->start_us = server_now_us();
    r->now = server_now_ms();
    r->status = 200;
    peer_address(r);
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > srv->cfg.body_limit)
        r->body_too_big = 1;
    atomic_fetch_add(&srv->in_flight, 1);
    return r;
}

static void body_append(req *r, const char *data, size_t n)
{
    if (r->body_too_big)
        return;
    if (r->body_len + n > r->srv->cfg.body_limit) {
        r->body_too_big = 1;
        return;
    }
    if (r->body_len + n > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap * 2 : 4096;
        while (cap < r->body_len + n)
            cap *= 2;
        char *p = cd_realloc(r->body, cap);
        if (!p) {
            r->body_too_big = 1;
            return;
        }
        r->body = p;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    server *srv = cls;
    req *r = *con_cls;
    (void)version;
    if (!r) {
        r = req_new(srv, conn, method, url);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        /* Refuse an announced oversized body before reading it. */
        return r->body_too_big ? respond(r) : MHD_YES;
    }
    if (*upload_data_size) {
        body_append(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->status != 200 || r->err_code[0])
        return MHD_YES; /* already answered (oversized) */
    return respond(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    server *srv = cls;
    req *r = *con_cls;
    (void)conn;
    (void)code;
    if (!r)
        return;
    if (r->tx)
        store_rollback(r->tx);
    json_decref(r->in);
    json_decref(r->query);
    json_decref(r->out);
    cd_free(r->raw);
    cd_free(r->body);
    cd_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->in_flight, 1);
}

/* --- start and stop --------------------------------------------------- */

static const char **series_labels(const char ***methods)
{
    size_t n = routes_count + 2;
    const char **labels = cd_calloc(n, sizeof *labels);
    *methods = cd_calloc(n, sizeof **methods);
    if (!labels || !*methods) {
        cd_free(labels);
        cd_free(*methods);
        return NULL;
    }
    for (size_t i = 0; i < routes_count; i++) {
        labels[i] = routes[i].pattern;
        (*methods)[i] = routes[i].method;
    }
    labels[SERIES_STATIC] = "static";
    labels[SERIES_UNMATCHED] = "unmatched";
    (*methods)[SERIES_STATIC] = (*methods)[SERIES_UNMATCHED] = "any";
    return labels;
}

int server_start(const server_config *cfg, store *st, server **out, char *err, size_t errlen)
{
    server *srv = cd_calloc(1, sizeof *srv);
    struct sockaddr_in addr;
    const char **methods = NULL, **labels;
    if (!srv)
        return CD_ENOMEM;
    srv->cfg = *cfg;
    srv->st = st;
    if (cfg->web_root && !realpath(cfg->web_root, srv->web_root))
        srv->web_root[0] = '\0';
    labels = series_labels(&methods);
    srv->metrics = labels ? metrics_create(labels, methods, routes_count + 2) : NULL;
    srv->hub = hub_create();
    srv->labels = labels;
    srv->methods = methods;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->host ? cfg->host : "127.0.0.1", &addr.sin_addr) != 1) {
        snprintf(err, errlen, "bad listen address '%s'", cfg->host);
        server_destroy(srv);
        return CD_EINVAL;
    }
    srv->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
            MHD_ALLOW_SUSPEND_RESUME,
        0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)(cfg->threads > 0 ? cfg->threads : 8), MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        srv, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)1024, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
    if (!srv->daemon || !srv->metrics || !srv->hub) {
        snprintf(err, errlen, "cannot listen on %s:%d", cfg->host, cfg->port);
        server_destroy(srv);
        return CD_EIO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->port;
    *out = srv;
    return 0;
}

int server_port(const server *srv)
{
    return srv->port;
}

void server_stop(server *srv, int grace_ms)
{
    if (!srv || !srv->daemon)
        return;
    if (srv->hub)
        hub_close_all(srv->hub); /* streams end now, not at the grace limit */
    MHD_quiesce_daemon(srv->daemon);
    for (int waited = 0; atomic_load(&srv->in_flight) > 0 && waited < grace_ms; waited += 10)
        usleep(10000);
    MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
}

void server_destroy(server *srv)
{
    if (!srv)
        return;
    server_stop(srv, 0);
    metrics_destroy(srv->metrics);
    hub_destroy(srv->hub);
    cd_free(srv->labels);
    cd_free(srv->methods);
    cd_free(srv);
}

struct hub *server_hub(server *srv)
{
    return srv->hub;
}

void server_attach_webhooks(server *srv, struct webhooks *w)
{
    srv->webhooks = w;
}

void server_attach_intents(server *srv, struct intents *in)
{
    srv->intents = in;
}

void server_attach_knowledge(server *srv, struct knowledge *k)
{
    srv->knowledge = k;
}

void server_attach_router(server *srv, struct router *r)
{
    srv->router = r;
}

char *server_metrics_text(server *srv)
{
    return metrics_render(srv->metrics);
}

store *server_store(server *srv)
{
    return srv->st;
}

/* request.h - one HTTP request as handlers see it (internal to server/). */
#ifndef SERVER_REQUEST_H
#define SERVER_REQUEST_H

#include "store/store.h"

#include <jansson.h>
#include <stdint.h>

struct route;
struct server;

typedef struct req {
    struct server *srv;
    void *conn; /* struct MHD_Connection */
    const struct route *route;
    const char *method, *url;
    char address[64];

    /* body, collected as it arrives */
    char *body;
    size_t body_len, body_cap;
    int body_too_big;

    json_t *in;     /* parsed, validated body (NULL when none) */
    json_t *query;  /* typed query parameters */
    int64_t ids[2]; /* numeric path parameters, in order */

    store_tx *tx;
    int64_t now;
    int64_t user_id; /* once authenticated; 0 before */
    int is_static;
    int via_cookie;
    char csrf[80];
    char session_hash[80];

    /* response */
    int stream_topic; /* 1 + hub_topic for a stream response, else 0 */
    int64_t stream_key;
    int status;
    json_t *out;
    char *raw; /* non-JSON body (OpenAPI, metrics), owned */
    const char *raw_type;
    char set_cookie[256];
    char location[128];
    char err_code[32], err_field[64], err_msg[256];
    uint64_t start_us;
} req;

/* Sets an error response (for errors found outside the store). */
int req_fail(req *r, int err, const char *field, const char *msg);
/* Ends the request's read transaction and opens a write transaction for
 * the same caller in its place (committed by the dispatcher). For handlers
 * that must do slow work (a password check) before writing, so the write
 * lock is not held meanwhile. */
int req_write_tx(req *r);
/* Finishes a handler: on rc == 0 answers status; returns rc. */
int req_reply(req *r, int status, int rc);
/* A request header, or NULL. */
const char *req_header(req *r, const char *name);
/* The caller's context; valid once authenticated. */
const store_ctx *req_ctx(req *r);

#endif

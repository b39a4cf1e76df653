/* store_mail.c - the email channel in the store: raw messages and
 * attachments kept content-addressed, threading of inbound mail onto
 * interactions, bounces recorded on the message that bounced, the outbox
 * of outbound mail with its lease, and each client's mail settings. */
#include "store/store_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/mail.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAIL_BODY_MAX (256 * 1024) /* the messages table's limit */
#define MAIL_COLUMNS                                                                               \
    "id, client_id, interaction_id, message_id, direction, kind, rfc_message_id, in_reply_to, "    \
    "refs, from_addr, to_addr, subject, quoted, raw_sha256, degraded, status, attempts, "          \
    "next_attempt_at, last_error, sent_at, created_at, updated_at"
#define SETTINGS_COLUMNS                                                                           \
    "client_id, ticket_prefix, max_attachment_bytes, auto_ack, auto_ack_text, "                    \
    "auto_ack_per_hour, smtp_url, imap_url, imap_user, imap_password, imap_after, imap_move_to, "  \
    "imap_poll_seconds, updated_at, survey, survey_text"

/* --- settings ------------------------------------------------------------ */

/* A client's settings, the defaults if it has none stored. */
static int settings_load(store_tx *tx, int64_t client, json_t **out)
{
    int rc = store__q1(tx, "SELECT " SETTINGS_COLUMNS " FROM mail_settings WHERE client_id = $1",
                       json_pack("[I]", (json_int_t)client), out);
    if (rc != CD_ENOTFOUND)
        return rc;
    json_t *row = NULL;
    rc = store__q1(tx, "SELECT slug FROM clients WHERE id = $1",
                   json_pack("[I]", (json_int_t)client), &row);
    if (rc)
        return rc;
    char prefix[33];
    snprintf(prefix, sizeof prefix, "%s", store__str(row, "slug"));
    json_decref(row);
    for (char *p = prefix; *p; p++)
        *p = (*p >= 'a' && *p <= 'z') ? (char)(*p - 32) : (*p == '-' ? '\0' : *p);
    *out = json_pack("{s:I, s:s, s:I, s:i, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:n, "
                     "s:i, s:s}",
                     "client_id", (json_int_t)client, "ticket_prefix", prefix,
                     "max_attachment_bytes", (json_int_t)10485760, "auto_ack", 0, "auto_ack_text",
                     "", "auto_ack_per_hour", 3, "smtp_url", "", "imap_url", "", "imap_user", "",
                     "imap_password", "", "imap_after", "seen", "imap_move_to", "",
                     "imap_poll_seconds", 60, "updated_at", "survey", 0, "survey_text", "");
    return *out ? 0 : CD_ENOMEM;
}

int store_mail_settings_get(store_tx *tx, int64_t client, json_t **out)
{
    int rc = store__client_check(tx, client);
    if (!rc)
        rc = settings_load(tx, client, out);
    if (!rc) {
        json_object_set_new(*out, "auto_ack", json_boolean(store__int(*out, "auto_ack")));
        json_object_set_new(*out, "survey", json_boolean(store__int(*out, "survey")));
        rc = store__imap_settings_shape(tx, client, *out);
    }
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int store_mail_settings_set(store_tx *tx, int64_t client, json_t *in, json_t **out)
{
    json_t *cur = NULL;
    int rc = store__client_check(tx, client);
    if (!rc)
        rc = settings_load(tx, client, &cur);
    if (rc)
        return rc;
    const char *k;
    json_t *v;
    json_object_foreach (in, k, v)
        json_object_set_new(cur, k,
                            json_is_boolean(v) ? json_integer(json_is_true(v)) : json_incref(v));
    const char *prefix = store__str(cur, "ticket_prefix");
    for (const char *p = prefix; p && *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) {
            json_decref(cur);
            return store__fail(tx, CD_EINVAL, "ticket_prefix",
                               "the ticket prefix is upper-case letters and digits");
        }
    if (store__int(cur, "max_attachment_bytes") < 0 || store__int(cur, "auto_ack_per_hour") < 0) {
        json_decref(cur);
        return store__fail(tx, CD_EINVAL, "", "limits may not be negative");
    }
    static const char *const text[] = {"auto_ack_text", "survey_text", NULL};
    rc = store__imap_settings_check(tx, client, in, cur);
    if (!rc)
        rc = store__redact_fields(tx, client, cur, text, NULL);
    if (!rc)
        rc = store__exec(
            tx,
            "INSERT INTO mail_settings (client_id, ticket_prefix, max_attachment_bytes, auto_ack, "
            "auto_ack_text, auto_ack_per_hour, smtp_url, imap_url, imap_user, imap_password, "
            "imap_after, imap_move_to, imap_poll_seconds, updated_at, survey, survey_text) VALUES "
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT "
            "(client_id) DO UPDATE SET "
            "ticket_prefix = $2, max_attachment_bytes = $3, auto_ack = $4, auto_ack_text = $5, "
            "auto_ack_per_hour = $6, smtp_url = $7, imap_url = $8, imap_user = $9, imap_password "
            "= $10, imap_after = $11, imap_move_to = $12, imap_poll_seconds = $13, updated_at = "
            "$14, survey = $15, survey_text = $16",
            json_pack(
                "[IOIIOIOOOOOOIIIO]", (json_int_t)client, json_object_get(cur, "ticket_prefix"),
                (json_int_t)store__int(cur, "max_attachment_bytes"),
                (json_int_t)store__int(cur, "auto_ack"), json_object_get(cur, "auto_ack_text"),
                (json_int_t)store__int(cur, "auto_ack_per_hour"), json_object_get(cur, "smtp_url"),
                json_object_get(cur, "imap_url"), json_object_get(cur, "imap_user"),
                json_object_get(cur, "imap_password"), json_object_get(cur, "imap_after"),
                json_object_get(cur, "imap_move_to"),
                (json_int_t)store__int(cur, "imap_poll_seconds"), (json_int_t)tx->now,
                (json_int_t)store__int(cur, "survey"), json_object_get(cur, "survey_text")),
            NULL);
    if (!rc)
        rc = store__exec(tx, "UPDATE imap_state SET next_poll_at = 0 WHERE client_id = $1",
                         json_pack("[I]", (json_int_t)client), NULL);
    json_decref(cur);
    if (!rc)
        rc = store__audit(tx, "update", "mail_settings", client, client, NULL);
    return rc ? rc : store_mail_settings_get(tx, client, out);
}

/* --- blobs --------------------------------------------------------------- */

static void sha256_hex(const void *data, size_t n, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, n);
    sodium_bin2hex(hex, 65, h, sizeof h);
}

/* Keeps data under its SHA-256 (written once per client): base64, sealed
 * with the vault's active key when the store has one. */
static int blob_put(store_tx *tx, int64_t client, const void *data, size_t n, const char *hex)
{
    json_t *row = NULL;
    int rc = store__q1(tx, "SELECT size FROM mail_blobs WHERE client_id = $1 AND sha256 = $2",
                       json_pack("[Is]", (json_int_t)client, hex), &row);
    json_decref(row);
    if (rc != CD_ENOTFOUND)
        return rc;
    size_t b64n = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = cd_malloc(b64n), *sealed = NULL;
    if (!b64)
        return CD_ENOMEM;
    sodium_bin2base64(b64, b64n, data, n, sodium_base64_VARIANT_ORIGINAL);
    if (tx->s->vault) {
        char ctx[96];
        snprintf(ctx, sizeof ctx, "mail:%lld:%s", (long long)client, hex);
        rc = vault_seal(tx->s->vault, ctx, b64, strlen(b64), &sealed);
        if (rc) {
            cd_free(b64);
            return rc;
        }
    }
    rc = store__exec(tx,
                     "INSERT INTO mail_blobs (client_id, sha256, size, content, created_at) VALUES "
                     "($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                     json_pack("[IsIsI]", (json_int_t)client, hex, (json_int_t)n,
                               sealed ? sealed : b64, (json_int_t)tx->now),
                     NULL);
    cd_free(sealed);
    cd_free(b64);
    return rc;
}

/* A copy of data with card data and the rest of redact.h masked (cd_free;
 * *outn bytes): for a message (a raw one, a forwarded one) first inside its
 * base64 and quoted-printable text parts (mail_redact_encoded), then in its
 * bytes; for text, in its bytes. */
static int masked_copy(unsigned opts, const char *data, size_t n, int message, char **out,
                       size_t *outn)
{
    char *inside = NULL;
    size_t inside_n = 0;
    int rc = message ? mail_redact_encoded(data, n, opts, &inside, &inside_n) : 0;
    if (rc)
        return rc;
    if (inside) {
        data = inside;
        n = inside_n;
    }
    char *copy = cd_malloc(n + 1);
    if (copy) {
        memcpy(copy, data, n);
        copy[n] = '\0';
        redact_buf(copy, n, opts, NULL);
    }
    cd_free(inside);
    *out = copy;
    *outn = n;
    return copy ? 0 : CD_ENOMEM;
}

/* The raw message is kept masked, as every other copy of a message is. */
static int raw_put(store_tx *tx, int64_t client, const char *raw, size_t n, char hex[65])
{
    unsigned opts;
    char *copy = NULL;
    int rc = store__redact_opts(tx, client, &opts);
    if (!rc)
        rc = masked_copy(opts, raw, n, 1, &copy, &n);
    if (rc)
        return rc;
    sha256_hex(copy, n, hex);
    rc = blob_put(tx, client, copy, n, hex);
    cd_free(copy);
    return rc;
}

/* --- threading ----------------------------------------------------------- */

/* The interaction of one of our messages (or any message we stored) with
 * this Message-ID, or 0. */
static int by_message_id(store_tx *tx, int64_t client, const char *id, int64_t *interaction)
{
    json_t *row = NULL;
    *interaction = 0;
    if (!id || !*id)
        return 0;
    int rc = store__q1(tx,
                       "SELECT interaction_id FROM mail_messages WHERE client_id = $1 AND "
                       "rfc_message_id = $2 AND interaction_id IS NOT NULL",
                       json_pack("[Is]", (json_int_t)client, id), &row);
    if (rc == CD_ENOTFOUND)
        return 0;
    if (!rc)
        *interaction = store__int(row, "interaction_id");
    json_decref(row);
    return rc;
}

/* Is addr a participant of the interaction: its customer's email, or the
 * sender or a recipient of one of its mails? */
static int participant(store_tx *tx, int64_t interaction, const char *addr, int *yes)
{
    json_t *rows = NULL;
    *yes = 0;
    int rc = store__q(
        tx,
        "SELECT 1 AS x FROM interactions i JOIN identities d ON d.customer_id = i.customer_id "
        "WHERE i.id = $1 AND d.kind = 'email' AND d.value = $2 UNION ALL SELECT 1 AS x FROM "
        "mail_messages WHERE interaction_id = $1 AND (from_addr = $2 OR to_addr = $2)",
        json_pack("[Is]", (json_int_t)interaction, addr), &rows);
    if (!rc)
        *yes = json_array_size(rows) > 0;
    json_decref(rows);
    return rc;
}

/* Finds the interaction a message continues: In-Reply-To, then References
 * newest first, then the subject token when the sender is a participant. */
static int thread_find(store_tx *tx, int64_t client, const mail_msg *m, json_t *settings,
                       int64_t *interaction, const char **how)
{
    int rc = by_message_id(tx, client, m->in_reply_to, interaction);
    *how = "in-reply-to";
    for (size_t i = m->nreferences; !rc && !*interaction && i > 0; i--) {
        rc = by_message_id(tx, client, m->references[i - 1], interaction);
        *how = "references";
    }
    if (rc || *interaction)
        return rc;
    char prefix[33];
    int64_t number = 0;
    const char *want = store__str(settings, "ticket_prefix");
    if (!want || !*want || mail_subject_token(m->subject, prefix, sizeof prefix, &number) ||
        strcasecmp(prefix, want) != 0 || !*m->from.addr)
        return 0;
    json_t *row = NULL;
    rc = store__q1(tx, "SELECT id FROM interactions WHERE id = $1 AND client_id = $2",
                   json_pack("[II]", (json_int_t)number, (json_int_t)client), &row);
    json_decref(row);
    if (rc == CD_ENOTFOUND)
        return 0;
    int yes = 0;
    if (!rc)
        rc = participant(tx, number, m->from.addr, &yes);
    if (!rc && yes) {
        *interaction = number;
        *how = "subject";
    }
    return rc;
}

/* The text stored as the conversation message: never empty, at most the
 * message limit, cut on a character boundary. New reference. */
static json_t *body_of(const mail_msg *m)
{
    const char *t = *m->text ? m->text : *m->quoted ? m->quoted : "(no text)";
    size_t n = strlen(t);
    if (n > MAIL_BODY_MAX) {
        n = MAIL_BODY_MAX;
        while (n && ((unsigned char)t[n] & 0xC0) == 0x80)
            n--;
    }
    return json_stringn(t, n);
}

static int has_at(const char *a)
{
    return a && strchr(a, '@') && a[0] != '@';
}

/* Adds the inbound message to an open interaction; *ok is 0 when it is
 * closed (the caller then starts a new one). */
static int thread_append(store_tx *tx, int64_t interaction, const mail_msg *m, json_t **msg,
                         int *ok)
{
    json_t *cur = NULL;
    *ok = 0;
    int rc = store_interaction_get(tx, interaction, &cur);
    if (rc)
        return rc;
    const char *status = store__str(cur, "status");
    if (strcmp(status, "closed") == 0) {
        json_decref(cur);
        return 0;
    }
    /* The customer answered: resolved or waiting work is open again. */
    if (strcmp(status, "resolved") == 0 || strcmp(status, "pending") == 0) {
        json_t *patch = json_pack("{s:s}", "status", "open"), *after = NULL;
        rc = store_interaction_update(tx, interaction, patch, &after);
        json_decref(patch);
        json_decref(after);
        if (rc == CD_ESTATE)
            rc = 0;
    }
    json_decref(cur);
    if (rc)
        return rc;
    json_t *in = json_pack("{s:s, s:o}", "direction", "inbound", "body", body_of(m));
    rc = store_message_add(tx, interaction, in, msg);
    json_decref(in);
    *ok = !rc;
    return rc;
}

static int thread_create(store_tx *tx, int64_t client, const mail_msg *m, json_t **row)
{
    json_t *in = json_pack("{s:I, s:s, s:s, s:{s:s, s:o}}", "client_id", (json_int_t)client,
                           "channel", "email", "subject", m->subject, "message", "direction",
                           "inbound", "body", body_of(m));
    if (!in)
        return CD_ENOMEM;
    if (has_at(m->from.addr))
        json_object_set_new(in, "customer",
                            json_pack("{s:s, s:[{s:s, s:s}]}", "name", m->from.name, "identities",
                                      "kind", "email", "value", m->from.addr));
    int rc = store_interaction_create(tx, in, row);
    json_decref(in);
    return rc;
}

/* Space-separated References. */
static char *refs_text(const mail_msg *m)
{
    size_t n = 1;
    for (size_t i = 0; i < m->nreferences; i++)
        n += strlen(m->references[i]) + 1;
    char *out = cd_malloc(n), *w = out;
    if (!out)
        return NULL;
    *w = '\0';
    for (size_t i = 0; i < m->nreferences; i++)
        w += sprintf(w, "%s%s", i ? " " : "", m->references[i]);
    return out;
}

static int mail_row(store_tx *tx, int64_t client, int64_t interaction, int64_t message,
                    const char *kind, const char *rfc_id, const mail_msg *m, const char *raw_hex,
                    const char *status, int64_t *mail_id)
{
    char *refs = refs_text(m);
    if (!refs)
        return CD_ENOMEM;
    json_t *text = json_pack("{s:s, s:s}", "subject", m->subject, "quoted", m->quoted);
    static const char *const keys[] = {"subject", "quoted", NULL};
    redact_counts masked = {0};
    int rc = text ? store__redact_fields(tx, client, text, keys, &masked) : CD_ENOMEM;
    json_t *row = NULL;
    if (!rc)
        rc = store__q1(
            tx,
            "INSERT INTO mail_messages (client_id, interaction_id, message_id, direction, kind, "
            "rfc_message_id, in_reply_to, refs, from_addr, to_addr, subject, quoted, raw_sha256, "
            "degraded, status, created_at, updated_at) VALUES ($1, $2, $3, 'inbound', $4, $5, "
            "$6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) RETURNING id",
            json_pack("[Iooss sss sOOs IsI]", (json_int_t)client,
                      interaction ? json_integer(interaction) : json_null(),
                      message ? json_integer(message) : json_null(), kind, rfc_id, m->in_reply_to,
                      refs, m->from.addr, m->nto ? m->to[0].addr : "",
                      json_object_get(text, "subject"), json_object_get(text, "quoted"), raw_hex,
                      (json_int_t)m->degraded, status, (json_int_t)tx->now),
            &row);
    cd_free(refs);
    json_decref(text);
    if (rc)
        return rc;
    *mail_id = store__int(row, "id");
    json_decref(row);
    if (interaction)
        rc = store__redact_event(tx, client, interaction, "email", *mail_id, &masked);
    return rc;
}

/* Attachments are kept as they came, but for text ones (type text), which
 * are masked like the message's text, and forwarded messages, masked like
 * the raw message. */
static int attachments_put(store_tx *tx, int64_t client, int64_t mail_id, const mail_msg *m,
                           int64_t limit, int64_t *dropped)
{
    unsigned opts;
    int rc = store__redact_opts(tx, client, &opts);
    *dropped = 0;
    for (size_t i = 0; !rc && i < m->nattachments; i++) {
        const mail_attachment *a = &m->attachments[i];
        char hex[65] = "";
        int keep = (int64_t)a->size <= limit;
        int message = strcasecmp(a->content_type, "message/rfc822") == 0;
        if (keep && (message || strncasecmp(a->content_type, "text/", 5) == 0)) {
            char *copy = NULL;
            size_t n = 0;
            rc = masked_copy(opts, (const char *)a->data, a->size, message, &copy, &n);
            if (rc)
                return rc;
            sha256_hex(copy, n, hex);
            rc = blob_put(tx, client, copy, n, hex);
            cd_free(copy);
        } else if (keep) {
            sha256_hex(a->data, a->size, hex);
            rc = blob_put(tx, client, a->data, a->size, hex);
        } else {
            (*dropped)++;
        }
        json_t *name = rc ? NULL : store__masked_string(a->filename, opts); /* as the text */
        if (!rc && !name)
            rc = CD_ENOMEM;
        if (!rc)
            rc = store__exec(tx,
                             "INSERT INTO mail_attachments (client_id, mail_id, filename, "
                             "content_type, size, sha256, is_inline) VALUES ($1, $2, $3, $4, $5, "
                             "$6, $7)",
                             json_pack("[IIOsIoi]", (json_int_t)client, (json_int_t)mail_id, name,
                                       a->content_type, (json_int_t)a->size,
                                       keep ? json_string(hex) : json_null(), a->is_inline),
                             NULL);
        json_decref(name);
    }
    return rc;
}

/* A bounce or delivery report: the outbound message it names is marked
 * failed with the reason, and the report is kept on that interaction. */
static int bounce_record(store_tx *tx, int64_t client, const mail_msg *m, const char *rfc_id,
                         const char *raw_hex, json_t **out)
{
    json_t *orig = NULL;
    int64_t interaction = 0, orig_id = 0, mail_id = 0;
    int rc = 0;
    if (*m->bounce_message_id) {
        rc = store__q1(tx,
                       "SELECT id, interaction_id FROM mail_messages WHERE client_id = $1 AND "
                       "rfc_message_id = $2 AND direction = 'outbound'",
                       json_pack("[Is]", (json_int_t)client, m->bounce_message_id), &orig);
        if (rc == CD_ENOTFOUND)
            rc = 0;
        else if (!rc) {
            orig_id = store__int(orig, "id");
            interaction = store__int(orig, "interaction_id");
        }
        json_decref(orig);
    }
    if (rc)
        return rc;
    char reason[600];
    snprintf(reason, sizeof reason, "bounced%s%s%s%s", *m->bounce_status ? " " : "",
             m->bounce_status, *m->bounce_reason ? ": " : "", m->bounce_reason);
    if (orig_id) {
        json_t *r = json_pack("{s:s}", "r", reason);
        static const char *const keys[] = {"r", NULL};
        rc = store__redact_fields(tx, client, r, keys, NULL);
        if (!rc)
            rc = store__exec(tx,
                             "UPDATE mail_messages SET status = 'failed', last_error = $1, "
                             "updated_at = $2, lease_owner = NULL WHERE id = $3",
                             json_pack("[OII]", json_object_get(r, "r"), (json_int_t)tx->now,
                                       (json_int_t)orig_id),
                             NULL);
        if (!rc && interaction) {
            json_t *ev = json_pack("{s:I, s:s, s:O}", "email_id", (json_int_t)orig_id, "status",
                                   m->bounce_status, "reason", json_object_get(r, "r"));
            rc = store__event(tx, client, interaction, "email_bounced", NULL, ev);
            json_decref(ev);
        }
        json_decref(r);
    }
    if (!rc)
        rc = mail_row(tx, client, interaction, 0, "bounce", rfc_id, m, raw_hex, "received",
                      &mail_id);
    if (!rc)
        *out =
            json_pack("{s:s, s:I, s:o, s:o}", "outcome", "bounce", "email_id", (json_int_t)mail_id,
                      "interaction_id", interaction ? json_integer(interaction) : json_null(),
                      "bounced_email_id", orig_id ? json_integer(orig_id) : json_null());
    return rc;
}

int store__mail_auto_ack(store_tx *tx, int64_t client, int64_t interaction, const mail_msg *m,
                         json_t *settings, int64_t *queued);

int store_mail_ingest(store_tx *tx, int64_t client, const char *raw, size_t len, const mail_msg *m,
                      json_t **out)
{
    char raw_hex[65], rfc_id[300];
    json_t *settings = NULL, *row = NULL;
    int rc = store__client_check(tx, client);
    if (rc)
        return rc;
    if (*m->message_id) {
        snprintf(rfc_id, sizeof rfc_id, "%s", m->message_id);
    } else {
        char hex[65];
        sha256_hex(raw, len, hex);
        snprintf(rfc_id, sizeof rfc_id, "sha256.%s@caredesk.invalid", hex);
    }
    /* Delivered again (or our own message coming back): stored once. */
    rc = store__q1(tx,
                   "SELECT id, interaction_id, direction FROM mail_messages WHERE client_id = $1 "
                   "AND rfc_message_id = $2",
                   json_pack("[Is]", (json_int_t)client, rfc_id), &row);
    if (!rc) {
        int own = strcmp(store__str(row, "direction"), "outbound") == 0;
        *out = json_pack("{s:s, s:O, s:O}", "outcome", own ? "own" : "duplicate", "email_id",
                         json_object_get(row, "id"), "interaction_id",
                         json_object_get(row, "interaction_id"));
        json_decref(row);
        return 0;
    }
    if (rc != CD_ENOTFOUND)
        return rc;
    rc = raw_put(tx, client, raw, len, raw_hex);
    if (!rc)
        rc = settings_load(tx, client, &settings);
    if (rc)
        return rc;
    if (m->is_bounce) {
        rc = bounce_record(tx, client, m, rfc_id, raw_hex, out);
        json_decref(settings);
        return rc;
    }
    int64_t interaction = 0, message = 0, mail_id = 0, dropped = 0, queued = 0;
    const char *how = "new";
    json_t *msg = NULL;
    int appended = 0;
    rc = thread_find(tx, client, m, settings, &interaction, &how);
    if (!rc && interaction)
        rc = thread_append(tx, interaction, m, &msg, &appended);
    if (!rc && !appended) {
        json_t *created = NULL;
        how = "new";
        rc = thread_create(tx, client, m, &created);
        if (!rc) {
            interaction = store__int(created, "id");
            msg = json_incref(json_object_get(created, "message"));
        }
        json_decref(created);
    }
    if (!rc)
        message = store__int(msg, "id");
    json_decref(msg);
    if (!rc)
        rc = mail_row(tx, client, interaction, message, m->is_automatic ? "automatic" : "message",
                      rfc_id, m, raw_hex, "received", &mail_id);
    if (!rc)
        rc = attachments_put(tx, client, mail_id, m, store__int(settings, "max_attachment_bytes"),
                             &dropped);
    if (!rc && dropped) {
        json_t *ev = json_pack("{s:I, s:I, s:I}", "email_id", (json_int_t)mail_id, "dropped",
                               (json_int_t)dropped, "limit",
                               (json_int_t)store__int(settings, "max_attachment_bytes"));
        rc = store__event(tx, client, interaction, "attachments_over_limit", NULL, ev);
        json_decref(ev);
    }
    if (!rc && strcmp(how, "new") == 0)
        rc = store__mail_auto_ack(tx, client, interaction, m, settings, &queued);
    if (!rc)
        rc = store__audit(tx, "create", "email", mail_id, client, NULL);
    json_decref(settings);
    if (!rc)
        *out = json_pack("{s:s, s:I, s:I, s:I, s:s, s:I, s:b}", "outcome",
                         strcmp(how, "new") == 0 ? "created" : "threaded", "email_id",
                         (json_int_t)mail_id, "interaction_id", (json_int_t)interaction,
                         "message_id", (json_int_t)message, "matched_by", how, "attachments",
                         (json_int_t)m->nattachments, "auto_ack", queued != 0);
    return rc;
}

int store_mail_keep_raw(store_tx *tx, int64_t client, const char *raw, size_t len, const char *why,
                        json_t **out)
{
    char hex[65], rfc_id[120];
    json_t *row = NULL;
    int rc = store__client_check(tx, client);
    if (rc)
        return rc;
    rc = raw_put(tx, client, raw, len, hex);
    snprintf(rfc_id, sizeof rfc_id, "sha256.%s@caredesk.invalid", hex);
    if (!rc)
        rc = store__q1(
            tx,
            "INSERT INTO mail_messages (client_id, direction, kind, rfc_message_id, "
            "raw_sha256, degraded, status, last_error, created_at, updated_at) VALUES "
            "($1, 'inbound', 'unreadable', $2, $3, 1, 'received', $4, $5, $5) "
            "ON CONFLICT DO NOTHING RETURNING id",
            json_pack("[IsssI]", (json_int_t)client, rfc_id, hex, why, (json_int_t)tx->now), &row);
    if (rc == CD_ENOTFOUND)
        rc = 0; /* kept before */
    if (!rc)
        *out = json_pack("{s:s, s:o}", "outcome", "kept", "email_id",
                         row ? json_integer(store__int(row, "id")) : json_null());
    json_decref(row);
    return rc;
}

/* One attempt in one transaction: the full ingest, or only the raw message
 * when full is 0. */
static int receive_once(store *s, int64_t now_ms, int64_t client, const char *raw, size_t len,
                        const mail_msg *m, int full, json_t **out, char *err, size_t errlen)
{
    store_ctx sys;
    store_tx *tx = NULL;
    store_ctx_system(&sys);
    int rc = store_begin(s, &sys, now_ms, 1, &tx);
    if (rc) {
        snprintf(err, errlen, "%s", cd_strerror(rc));
        return rc;
    }
    rc = full ? store_mail_ingest(tx, client, raw, len, m, out)
              : store_mail_keep_raw(tx, client, raw, len, "the message could not be stored", out);
    if (rc) {
        const char *field = store_err_field(tx), *msg = store_err_message(tx);
        snprintf(err, errlen, "%s%s%s%s%s%s", cd_strerror(rc), *field ? " (" : "", field,
                 *field ? ")" : "", msg && *msg ? ": " : "", msg ? msg : "");
        store_rollback(tx);
        json_decref(*out);
        *out = NULL;
        return rc;
    }
    rc = store_commit(tx);
    if (rc) {
        snprintf(err, errlen, "%s", cd_strerror(rc));
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int store_mail_receive(store *s, int64_t now_ms, int64_t client, const char *raw, size_t len,
                       const mail_msg *m, json_t **out, char *err, size_t errlen)
{
    char ignored[8];
    if (!err) {
        err = ignored;
        errlen = sizeof ignored;
    }
    *out = NULL;
    err[0] = '\0';
    int rc = receive_once(s, now_ms, client, raw, len, m, 1, out, err, errlen);
    /* Data the store refuses: keep the raw message at least. */
    if (rc == CD_EINVAL || rc == CD_ETOOBIG || rc == CD_ESTATE || rc == CD_ECONFLICT)
        rc = receive_once(s, now_ms, client, raw, len, m, 0, out, err, errlen);
    return rc;
}

/* --- the email view of an interaction ------------------------------------ */

int store_mail_list(store_tx *tx, int64_t interaction, json_t **out)
{
    json_t *cur = NULL, *rows = NULL, *atts = NULL, *r;
    size_t i, j;
    int rc = store_interaction_get(tx, interaction, &cur);
    json_decref(cur);
    if (!rc)
        rc = store__q(tx,
                      "SELECT " MAIL_COLUMNS " FROM mail_messages WHERE interaction_id = $1 "
                      "ORDER BY id",
                      json_pack("[I]", (json_int_t)interaction), &rows);
    if (!rc)
        rc = store__q(tx,
                      "SELECT a.mail_id, a.filename, a.content_type, a.size, a.sha256, "
                      "a.is_inline FROM mail_attachments a JOIN mail_messages m ON m.id = "
                      "a.mail_id WHERE m.interaction_id = $1 ORDER BY a.id",
                      json_pack("[I]", (json_int_t)interaction), &atts);
    if (rc) {
        json_decref(rows);
        return rc;
    }
    json_array_foreach (rows, i, r) {
        json_t *list = json_array(), *a;
        json_array_foreach (atts, j, a) {
            if (store__int(a, "mail_id") != store__int(r, "id"))
                continue;
            json_t *copy = json_deep_copy(a);
            json_object_del(copy, "mail_id");
            json_object_set_new(copy, "kept",
                                json_boolean(!json_is_null(json_object_get(a, "sha256"))));
            json_object_set_new(copy, "is_inline", json_boolean(store__int(a, "is_inline")));
            json_array_append_new(list, copy);
        }
        json_object_set_new(r, "attachments", list);
        json_object_set_new(r, "degraded", json_boolean(store__int(r, "degraded")));
    }
    json_decref(atts);
    *out = json_pack("{s:o, s:n}", "items", rows, "next_cursor");
    return *out ? 0 : CD_ENOMEM;
}

/* --- the outbox ---------------------------------------------------------- */

#define OUTBOX_MAX_ATTEMPTS 8

/* Where the client's outbound mail comes from: the brand. */
static int brand_of(store_tx *tx, int64_t client, json_t **row)
{
    return store__q1(tx,
                     "SELECT brand_display_name, brand_from_address, brand_signature FROM clients "
                     "WHERE id = $1",
                     json_pack("[I]", (json_int_t)client), row);
}

/* Queues an outbound email on an interaction: to its customer (or the
 * last sender), answering the latest inbound email, with the subject token,
 * the brand's signature and a Message-ID of ours. kind: reply, auto_ack,
 * survey. *queued receives the new row's id, 0 if there is nobody to write
 * to. */
static int outbox_add(store_tx *tx, int64_t client, int64_t interaction, int64_t message,
                      const char *body, const char *kind, const char *to_hint, int64_t *queued)
{
    json_t *it = NULL, *last = NULL, *addr = NULL, *brand = NULL, *settings = NULL, *row = NULL;
    *queued = 0;
    int rc = store__q1(tx, "SELECT subject, customer_id FROM interactions WHERE id = $1",
                       json_pack("[I]", (json_int_t)interaction), &it);
    if (rc)
        return rc;
    rc = store__q1(tx,
                   "SELECT rfc_message_id, refs, from_addr FROM mail_messages WHERE "
                   "interaction_id = $1 AND direction = 'inbound' AND kind <> 'bounce' ORDER BY "
                   "id DESC LIMIT 1",
                   json_pack("[I]", (json_int_t)interaction), &last);
    if (rc == CD_ENOTFOUND)
        rc = 0;
    const char *to = to_hint;
    if (!rc && (!to || !*to)) {
        rc = store__q1(tx,
                       "SELECT value FROM identities WHERE customer_id = $1 AND kind = 'email' "
                       "ORDER BY id LIMIT 1",
                       json_pack("[I]", (json_int_t)store__int(it, "customer_id")), &addr);
        if (rc == CD_ENOTFOUND)
            rc = 0;
        to = addr ? store__str(addr, "value") : last ? store__str(last, "from_addr") : NULL;
    }
    if (!rc && (!to || !has_at(to)))
        goto out; /* nobody to write to */
    if (!rc)
        rc = brand_of(tx, client, &brand);
    if (!rc)
        rc = settings_load(tx, client, &settings);
    if (rc)
        goto out;
    const char *from = store__str(brand, "brand_from_address");
    const char *domain = from && strchr(from, '@') ? strchr(from, '@') + 1 : "caredesk.invalid";
    unsigned char rnd[8];
    char hex[17], mid[300], subject[700], token[64];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    snprintf(mid, sizeof mid, "cd.%lld.%s@%s", (long long)interaction, hex, domain);
    const char *subj = store__str(it, "subject");
    snprintf(token, sizeof token, "[%s-%lld]", store__str(settings, "ticket_prefix"),
             (long long)interaction);
    snprintf(subject, sizeof subject, "%s%s%s%s", strncasecmp(subj, "re:", 3) == 0 ? "" : "Re: ",
             strstr(subj, token) || !*store__str(settings, "ticket_prefix") ? "" : token,
             strstr(subj, token) || !*store__str(settings, "ticket_prefix") ? "" : " ", subj);
    const char *sig = store__str(brand, "brand_signature");
    size_t blen = strlen(body) + (sig ? strlen(sig) : 0) + 4;
    char *text = cd_malloc(blen);
    if (!text) {
        rc = CD_ENOMEM;
        goto out;
    }
    snprintf(text, blen, "%s%s%s", body, sig && *sig ? "\n\n" : "", sig ? sig : "");
    const char *irt = last ? store__str(last, "rfc_message_id") : "";
    char *refs = NULL;
    if (last) {
        const char *old = store__str(last, "refs");
        size_t n = strlen(old) + strlen(irt) + 2;
        refs = cd_malloc(n);
        if (refs)
            snprintf(refs, n, "%s%s%s", old, *old ? " " : "", irt);
    }
    rc = store__q1(
        tx,
        "INSERT INTO mail_messages (client_id, interaction_id, message_id, direction, kind, "
        "rfc_message_id, in_reply_to, refs, from_addr, to_addr, subject, body, status, "
        "next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, 'outbound', $4, $5, $6, "
        "$7, $8, $9, $10, $11, 'queued', $12, $12, $12) RETURNING id",
        json_pack("[IIossssssssI]", (json_int_t)client, (json_int_t)interaction,
                  message ? json_integer(message) : json_null(), kind, mid, irt, refs ? refs : "",
                  from ? from : "", to, subject, text, (json_int_t)tx->now),
        &row);
    cd_free(text);
    cd_free(refs);
    if (!rc) {
        *queued = store__int(row, "id");
        json_t *ev = json_pack("{s:I, s:s}", "email_id", (json_int_t)*queued, "kind", kind);
        rc = store__event(tx, client, interaction, "email_queued", NULL, ev);
        json_decref(ev);
    }
out:
    json_decref(it);
    json_decref(last);
    json_decref(addr);
    json_decref(brand);
    json_decref(settings);
    json_decref(row);
    return rc;
}

int store__mail_reply(store_tx *tx, int64_t client, int64_t interaction, json_t *message)
{
    int64_t queued = 0;
    return outbox_add(tx, client, interaction, store__int(message, "id"),
                      store__str(message, "body"), "reply", NULL, &queued);
}

/* The automatic acknowledgement of a new interaction, never to automatic
 * mail, daemons or ourselves, and at most auto_ack_per_hour per sender. */
int store__mail_auto_ack(store_tx *tx, int64_t client, int64_t interaction, const mail_msg *m,
                         json_t *settings, int64_t *queued)
{
    json_t *brand = NULL, *row = NULL;
    *queued = 0;
    if (!store__int(settings, "auto_ack") || m->is_automatic || m->from_daemon ||
        !has_at(m->from.addr))
        return 0;
    int rc = brand_of(tx, client, &brand);
    if (rc)
        return rc;
    int self = strcasecmp(store__str(brand, "brand_from_address"), m->from.addr) == 0;
    json_decref(brand);
    if (self)
        return 0;
    rc = store__q1(
        tx,
        "SELECT COUNT(*) AS n FROM mail_messages WHERE client_id = $1 AND to_addr = $2 "
        "AND kind = 'auto_ack' AND created_at > $3",
        json_pack("[IsI]", (json_int_t)client, m->from.addr, (json_int_t)(tx->now - 3600 * 1000)),
        &row);
    if (rc)
        return rc;
    int64_t sent = store__int(row, "n");
    json_decref(row);
    if (sent >= store__int(settings, "auto_ack_per_hour"))
        return 0;
    char text[4200];
    const char *custom = store__str(settings, "auto_ack_text");
    snprintf(text, sizeof text, "%s",
             custom && *custom ? custom
                               : "Thank you for your message. We have received it and will "
                                 "answer as soon as we can; please keep the reference in the "
                                 "subject when you write about it.");
    return outbox_add(tx, client, interaction, 0, text, "auto_ack", m->from.addr, queued);
}

int store_mail_outbox_claim(store_tx *tx, const char *me, int64_t lease_ms, int limit, json_t **out)
{
    json_t *ids = NULL, *r;
    size_t i;
    int rc = store__q(tx,
                      "SELECT id FROM mail_messages WHERE status = 'queued' AND next_attempt_at "
                      "<= $1 AND lease_until < $1 ORDER BY next_attempt_at, id LIMIT $2",
                      json_pack("[II]", (json_int_t)tx->now, (json_int_t)limit), &ids);
    if (rc)
        return rc;
    *out = json_array();
    json_array_foreach (ids, i, r) {
        int64_t changed = 0;
        json_t *row = NULL;
        rc = store__exec(tx,
                         "UPDATE mail_messages SET lease_owner = $1, lease_until = $2, attempts = "
                         "attempts + 1, updated_at = $3 WHERE id = $4 AND status = 'queued' AND "
                         "lease_until < $3",
                         json_pack("[sIII]", me, (json_int_t)(tx->now + lease_ms),
                                   (json_int_t)tx->now, (json_int_t)store__int(r, "id")),
                         &changed);
        if (rc)
            break;
        if (changed != 1)
            continue;
        rc = store__q1(
            tx,
            "SELECT m.id, m.client_id, m.interaction_id, m.kind, m.rfc_message_id, m.in_reply_to, "
            "m.refs, m.from_addr, m.to_addr, m.subject, m.body, m.attempts, "
            "c.brand_display_name AS from_name, COALESCE(s.smtp_url, '') AS smtp_url FROM "
            "mail_messages m JOIN clients c ON c.id = m.client_id LEFT JOIN mail_settings s ON "
            "s.client_id = m.client_id WHERE m.id = $1",
            json_pack("[I]", (json_int_t)store__int(r, "id")), &row);
        if (rc)
            break;
        json_array_append_new(*out, row);
    }
    json_decref(ids);
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int store_mail_outbox_result(store_tx *tx, int64_t id, const char *me, int ok, int permanent,
                             const char *error, int64_t retry_base_ms)
{
    json_t *row = NULL;
    int rc = store__q1(tx,
                       "SELECT client_id, interaction_id, attempts FROM mail_messages WHERE id = "
                       "$1 AND lease_owner = $2 AND status = 'queued'",
                       json_pack("[Is]", (json_int_t)id, me), &row);
    if (rc == CD_ENOTFOUND)
        return 0; /* the lease was lost meanwhile: whoever holds it now decides */
    if (rc)
        return rc;
    int64_t client = store__int(row, "client_id"), interaction = store__int(row, "interaction_id");
    int64_t attempts = store__int(row, "attempts");
    json_decref(row);
    const char *status = ok                                             ? "sent"
                         : permanent || attempts >= OUTBOX_MAX_ATTEMPTS ? "failed"
                                                                        : "queued";
    int64_t delay = retry_base_ms;
    for (int64_t k = 1; k < attempts && delay < 3600 * 1000; k++)
        delay *= 2;
    if (delay > 3600 * 1000)
        delay = 3600 * 1000;
    rc = store__exec(tx,
                     "UPDATE mail_messages SET status = $1, last_error = $2, lease_owner = NULL, "
                     "lease_until = 0, next_attempt_at = $3, sent_at = $4, updated_at = $5 WHERE "
                     "id = $6",
                     json_pack("[ssIoII]", status,
                               ok      ? ""
                               : error ? error
                                       : "",
                               (json_int_t)(tx->now + delay),
                               ok ? json_integer(tx->now) : json_null(), (json_int_t)tx->now,
                               (json_int_t)id),
                     NULL);
    if (!rc && interaction && strcmp(status, "queued") != 0) {
        json_t *ev =
            ok ? json_pack("{s:I}", "email_id", (json_int_t)id)
               : json_pack("{s:I, s:s}", "email_id", (json_int_t)id, "reason", error ? error : "");
        rc = store__event(tx, client, interaction, ok ? "email_sent" : "email_failed", NULL, ev);
        json_decref(ev);
    }
    return rc;
}

int store__mail_survey(store_tx *tx, int64_t client, int64_t interaction)
{
    json_t *settings = NULL;
    int64_t queued = 0;
    int rc = settings_load(tx, client, &settings);
    if (!rc && store__int(settings, "survey")) {
        const char *text = store__str(settings, "survey_text");
        rc = outbox_add(tx, client, interaction, 0,
                        text && *text ? text
                                      : "How did we do? Reply with a number from 1 (poor) to 5 "
                                        "(excellent).",
                        "survey", NULL, &queued);
    }
    json_decref(settings);
    return rc;
}

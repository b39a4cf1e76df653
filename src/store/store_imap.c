/* store_imap.c - a client's mailbox polled by IMAP: its settings (the
 * password sealed with the key file), and the state of each polled
 * mailbox (UIDVALIDITY, the last UID stored and marked, the lease of the
 * server polling it, what the last poll did). */
#include "store/store_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static void password_context(char *buf, size_t n, int64_t client)
{
    snprintf(buf, n, "imap:%lld:password", (long long)client);
}

int store__imap_settings_check(store_tx *tx, int64_t client, json_t *in, json_t *cur)
{
    const char *url = store__str(cur, "imap_url");
    if (url && *url) {
        const char *host = strncasecmp(url, "imaps://", 8) == 0  ? url + 8
                           : strncasecmp(url, "imap://", 7) == 0 ? url + 7
                                                                 : NULL;
        if (!host || !*host || *host == '/' || *host == ':')
            return store__fail(tx, CD_EINVAL, "imap_url",
                               "the IMAP URL is imaps://HOST[:PORT]/MAILBOX or imap://HOST[:PORT]"
                               "/MAILBOX (STARTTLS)");
    }
    const char *after = store__str(cur, "imap_after");
    if (after && strcmp(after, "move") == 0 && !*store__str(cur, "imap_move_to"))
        return store__fail(tx, CD_EINVAL, "imap_move_to",
                           "moving messages after they are stored needs imap_move_to");
    if (store__int(cur, "imap_poll_seconds") < 1)
        return store__fail(tx, CD_EINVAL, "imap_poll_seconds", "the poll interval is at least 1 s");
    json_t *pw = json_object_get(in, "imap_password");
    if (!pw)
        return 0;
    if (json_is_null(pw) || json_string_length(pw) == 0) {
        json_object_set_new(cur, "imap_password", json_string(""));
        return 0;
    }
    if (!tx->s->vault)
        return store__fail(tx, CD_ESTATE, "imap_password",
                           "the IMAP password is kept only sealed with the key file, and there is "
                           "none: %s",
                           tx->s->vault_why);
    char ctx[64], *sealed = NULL;
    password_context(ctx, sizeof ctx, client);
    int rc = vault_seal(tx->s->vault, ctx, json_string_value(pw), json_string_length(pw), &sealed);
    if (rc)
        return rc;
    json_object_set_new(cur, "imap_password", json_string(sealed));
    cd_free(sealed);
    return 0;
}

#define STATE_COLUMNS                                                                              \
    "uidvalidity, last_uid, next_poll_at, lease_until, last_poll_at, last_error, fetched, "       \
    "duplicates"

int store__imap_settings_shape(store_tx *tx, int64_t client, json_t *s)
{
    const char *pw = store__str(s, "imap_password");
    json_object_set_new(s, "imap_password_set", json_boolean(pw && *pw));
    json_object_del(s, "imap_password");
    json_t *row = NULL;
    int rc = store__q1(tx, "SELECT " STATE_COLUMNS " FROM imap_state WHERE client_id = $1",
                       json_pack("[I]", (json_int_t)client), &row);
    if (rc == CD_ENOTFOUND) {
        json_object_set_new(s, "imap_status", json_null());
        return 0;
    }
    if (rc)
        return rc;
    json_object_set_new(row, "polling", json_boolean(store__int(row, "lease_until") > tx->now));
    json_object_del(row, "lease_until");
    json_object_set_new(s, "imap_status", row);
    return 0;
}

int store_imap_claim(store_tx *tx, const char *me, int64_t lease_ms, json_t **out)
{
    json_t *due = NULL, *r, *row = NULL;
    size_t i;
    int64_t client = 0;
    *out = NULL;
    int rc = store__q(tx,
                      "SELECT s.client_id FROM mail_settings s LEFT JOIN imap_state t ON "
                      "t.client_id = s.client_id WHERE s.imap_url <> '' AND (t.client_id IS NULL "
                      "OR (t.next_poll_at <= $1 AND t.lease_until < $1)) ORDER BY "
                      "COALESCE(t.next_poll_at, 0), s.client_id LIMIT 8",
                      json_pack("[I]", (json_int_t)tx->now), &due);
    json_array_foreach (due, i, r) {
        int64_t id = store__int(r, "client_id"), changed = 0;
        if (rc)
            break;
        rc = store__exec(tx,
                         "INSERT INTO imap_state (client_id) VALUES ($1) ON CONFLICT DO NOTHING",
                         json_pack("[I]", (json_int_t)id), NULL);
        if (!rc)
            rc = store__exec(tx,
                             "UPDATE imap_state SET lease_owner = $1, lease_until = $2 WHERE "
                             "client_id = $3 AND next_poll_at <= $4 AND lease_until < $4",
                             json_pack("[sIII]", me, (json_int_t)(tx->now + lease_ms),
                                       (json_int_t)id, (json_int_t)tx->now),
                             &changed);
        if (!rc && changed == 1) {
            client = id;
            break;
        }
    }
    json_decref(due);
    if (rc || !client)
        return rc;
    rc = store__q1(tx,
                   "SELECT s.client_id, s.imap_url, s.imap_user, s.imap_password, s.imap_after, "
                   "s.imap_move_to, s.imap_poll_seconds, t.url, t.uidvalidity, t.last_uid FROM "
                   "mail_settings s JOIN imap_state t ON t.client_id = s.client_id WHERE "
                   "s.client_id = $1",
                   json_pack("[I]", (json_int_t)client), &row);
    if (rc)
        return rc;
    /* Another mailbox than the one the state is about: start afresh. */
    if (strcmp(store__str(row, "url"), store__str(row, "imap_url")) != 0) {
        rc = store__exec(tx,
                         "UPDATE imap_state SET url = $1, uidvalidity = 0, last_uid = 0 WHERE "
                         "client_id = $2",
                         json_pack("[sI]", store__str(row, "imap_url"), (json_int_t)client), NULL);
        json_object_set_new(row, "uidvalidity", json_integer(0));
        json_object_set_new(row, "last_uid", json_integer(0));
    }
    const char *sealed = store__str(row, "imap_password");
    if (!rc && sealed && *sealed) {
        char ctx[64], *clear = NULL;
        password_context(ctx, sizeof ctx, client);
        int orc = tx->s->vault ? vault_unseal(tx->s->vault, ctx, sealed, &clear) : CD_ESTATE;
        if (orc == 0) {
            json_object_set_new(row, "imap_password", json_string(clear));
            sodium_memzero(clear, strlen(clear));
            cd_free(clear);
        } else {
            json_object_set_new(row, "imap_password", json_string(""));
            json_object_set_new(
                row, "error",
                json_string(!tx->s->vault  ? "the IMAP password cannot be opened: no key file"
                            : orc == CD_ENOTFOUND ? "the IMAP password cannot be opened: its key "
                                                    "is not in the key file"
                                                  : "the IMAP password cannot be opened"));
        }
    }
    if (rc)
        json_decref(row);
    else
        *out = row;
    return rc;
}

int store_imap_advance(store_tx *tx, int64_t client, const char *me, int64_t uidvalidity,
                       int64_t last_uid, int64_t lease_ms)
{
    int64_t changed = 0;
    int rc = store__exec(tx,
                         "UPDATE imap_state SET uidvalidity = $1, last_uid = $2, lease_until = $3 "
                         "WHERE client_id = $4 AND lease_owner = $5 AND lease_until >= $6",
                         json_pack("[IIIIsI]", (json_int_t)uidvalidity, (json_int_t)last_uid,
                                   (json_int_t)(tx->now + lease_ms), (json_int_t)client, me,
                                   (json_int_t)tx->now),
                         &changed);
    if (!rc && changed != 1)
        rc = store__fail(tx, CD_ESTATE, "", "the lease on the mailbox was lost");
    return rc;
}

int store_imap_done(store_tx *tx, int64_t client, const char *me, const char *error,
                    int64_t fetched, int64_t duplicates, int64_t next_in_ms)
{
    return store__exec(tx,
                       "UPDATE imap_state SET lease_owner = NULL, lease_until = 0, last_poll_at = "
                       "$1, last_error = $2, fetched = fetched + $3, duplicates = duplicates + $4, "
                       "next_poll_at = $5 WHERE client_id = $6 AND lease_owner = $7",
                       json_pack("[IsIIIIs]", (json_int_t)tx->now, error ? error : "",
                                 (json_int_t)fetched, (json_int_t)duplicates,
                                 (json_int_t)(tx->now + next_in_ms), (json_int_t)client, me),
                       NULL);
}

int store__imap_reseal(store_tx *tx, const vault *v, int64_t *count)
{
    json_t *rows = NULL, *row;
    size_t i;
    int rc = store__q(tx,
                      "SELECT client_id, imap_password FROM mail_settings WHERE imap_password <> "
                      "'' ORDER BY client_id",
                      NULL, &rows);
    json_array_foreach (rows, i, row) {
        char ctx[64], *clear = NULL, *sealed = NULL;
        int64_t client = store__int(row, "client_id");
        if (rc)
            break;
        password_context(ctx, sizeof ctx, client);
        rc = vault_unseal(v, ctx, store__str(row, "imap_password"), &clear);
        if (rc)
            rc = store__fail(tx, rc, "imap_password",
                             "the IMAP password of client %lld does not open with the key file",
                             (long long)client);
        if (!rc)
            rc = vault_seal(v, ctx, clear, strlen(clear), &sealed);
        if (!rc)
            rc = store__exec(tx, "UPDATE mail_settings SET imap_password = $1 WHERE client_id = $2",
                             json_pack("[sI]", sealed, (json_int_t)client), NULL);
        if (!rc)
            ++*count;
        if (clear)
            sodium_memzero(clear, strlen(clear));
        cd_free(clear);
        cd_free(sealed);
    }
    json_decref(rows);
    return rc;
}

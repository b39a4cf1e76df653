/* store_knowledge.c - knowledge-base articles: drafts, published and
 * archived, every version kept; agents' feedback on suggested articles; and
 * the numbered change log every server's search index follows. */
#include "store/store_internal.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <stdlib.h>
#include <string.h>

#define ARTICLE_COLUMNS                                                                            \
    "id, client_id, title, body, tags, audience, status, version, author_id, created_at, "         \
    "updated_at"
#define ARTICLE_COLUMNS_A                                                                          \
    "id, a.client_id, a.title, a.body, a.tags, a.audience, a.status, a.version"

static const char *const audiences[] = {"internal", "public", NULL};
static const char *const statuses[] = {"draft", "published", "archived", NULL};

static int one_of(const char *const *set, const char *v)
{
    for (; v && *set; set++)
        if (strcmp(*set, v) == 0)
            return 1;
    return 0;
}

static json_t *article_shape(json_t *row)
{
    store__parse_column(row, "tags", "[]");
    return row;
}

/* Appends article id to kb_changes under kb_head's row lock, so numbers
 * follow commit order. */
static int kb_changed(store_tx *tx, int64_t article)
{
    json_t *head = NULL;
    tx->effects |= STORE_FX_KB;
    int rc = store__q1(tx, "UPDATE kb_head SET seq = seq + 1 WHERE id = 1 RETURNING seq", NULL,
                       &head);
    if (!rc)
        rc = store__exec(tx, "INSERT INTO kb_changes (seq, article_id, at) VALUES ($1, $2, $3)",
                         json_pack("[III]", (json_int_t)store__int(head, "seq"),
                                   (json_int_t)article, (json_int_t)tx->now),
                         NULL);
    json_decref(head);
    return rc;
}

static int check_article(store_tx *tx, json_t *in)
{
    if (json_object_get(in, "audience") && !one_of(audiences, store__str(in, "audience")))
        return store__fail(tx, CD_EINVAL, "audience", "audience must be internal or public");
    if (json_object_get(in, "status") && !one_of(statuses, store__str(in, "status")))
        return store__fail(tx, CD_EINVAL, "status",
                           "status must be draft, published or archived");
    if (json_object_get(in, "title") && !*store__str(in, "title"))
        return store__fail(tx, CD_EINVAL, "title", "title may not be empty");
    return 0;
}

/* Writes the current row as version `version` of the article. */
static int version_write(store_tx *tx, json_t *row)
{
    char *tags = json_dumps(json_object_get(row, "tags"), JSON_COMPACT);
    int rc = tags ? store__exec(tx,
                                "INSERT INTO article_versions (article_id, version, title, body, "
                                "tags, audience, status, author_id, at) VALUES ($1, $2, $3, $4, "
                                "$5, $6, $7, $8, $9)",
                                json_pack("[IIOOsOOOI]", (json_int_t)store__int(row, "id"),
                                          (json_int_t)store__int(row, "version"),
                                          json_object_get(row, "title"),
                                          json_object_get(row, "body"), tags,
                                          json_object_get(row, "audience"),
                                          json_object_get(row, "status"),
                                          json_object_get(row, "author_id"), (json_int_t)tx->now),
                                NULL)
                  : CD_ENOMEM;
    free(tags);
    return rc;
}

int store_article_get(store_tx *tx, int64_t id, json_t **out)
{
    json_t *row = NULL;
    int rc =
        store__get_visible(tx, "SELECT " ARTICLE_COLUMNS " FROM articles WHERE id = $1", id, &row);
    if (!rc)
        *out = article_shape(row);
    return rc;
}

int store_article_create(store_tx *tx, json_t *in, json_t **out)
{
    int64_t client = store__int(in, "client_id");
    static const char *const text[] = {"title", "body", "tags", NULL};
    json_t *row = NULL;
    char *tags = NULL;
    int rc = store__client_check(tx, client);
    if (!rc)
        rc = check_article(tx, in);
    if (!rc && !store__str(in, "title"))
        rc = store__fail(tx, CD_EINVAL, "title", "title is required");
    if (!rc)
        rc = store__redact_fields(tx, client, in, text, NULL);
    if (rc)
        return rc;
    tags = json_object_get(in, "tags") ? json_dumps(json_object_get(in, "tags"), JSON_COMPACT)
                                       : strdup("[]");
    rc = tags ? store__q1(tx,
                          "INSERT INTO articles (client_id, title, body, tags, audience, status, "
                          "version, author_id, created_at, updated_at) VALUES ($1, $2, $3, $4, "
                          "$5, $6, 1, $7, $8, $8) RETURNING " ARTICLE_COLUMNS,
                          json_pack("[IsssssoI]", (json_int_t)client, store__str(in, "title"),
                                    store__str(in, "body") ? store__str(in, "body") : "", tags,
                                    store__str(in, "audience") ? store__str(in, "audience")
                                                               : "internal",
                                    store__str(in, "status") ? store__str(in, "status") : "draft",
                                    tx->ctx.user_id ? json_integer(tx->ctx.user_id) : json_null(),
                                    (json_int_t)tx->now),
                          &row)
              : CD_ENOMEM;
    free(tags);
    if (rc)
        return rc;
    article_shape(row);
    rc = version_write(tx, row);
    if (!rc)
        rc = kb_changed(tx, store__int(row, "id"));
    if (!rc)
        rc = store__audit(tx, "create", "article", store__int(row, "id"), client, NULL);
    if (rc) {
        json_decref(row);
        return rc;
    }
    *out = row;
    return 0;
}

int store_article_update(store_tx *tx, int64_t id, json_t *patch, json_t **out)
{
    static const char *const text[] = {"title", "body", "tags", NULL};
    static const char *const fields[] = {"title", "body", "audience", "status"};
    json_t *cur = NULL, *v;
    sqlb b;
    int rc = store_article_get(tx, id, &cur);
    if (rc)
        return rc;
    int64_t client = store__int(cur, "client_id"), version = store__int(cur, "version");
    json_decref(cur);
    if ((v = json_object_get(patch, "version")) && json_integer_value(v) != version)
        return store__fail(tx, CD_ECONFLICT, "version",
                           "the article changed since it was read (version %lld)",
                           (long long)version);
    rc = check_article(tx, patch);
    if (!rc)
        rc = store__redact_fields(tx, client, patch, text, NULL);
    if (rc)
        return rc;
    store__sqlb_init(&b, "UPDATE articles SET ");
    store__sqlb_param(&b, "updated_at = $?", json_integer(tx->now));
    store__sqlb_add(&b, ", version = version + 1");
    store__sqlb_param(&b, ", author_id = $?",
                      tx->ctx.user_id ? json_integer(tx->ctx.user_id) : json_null());
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        char set[40];
        if (!(v = json_object_get(patch, fields[i])))
            continue;
        snprintf(set, sizeof set, ", %s = $?", fields[i]);
        store__sqlb_param(&b, set, json_incref(v));
    }
    if ((v = json_object_get(patch, "tags"))) {
        char *tags = json_dumps(v, JSON_COMPACT);
        store__sqlb_param(&b, ", tags = $?", json_string(tags ? tags : "[]"));
        free(tags);
    }
    store__sqlb_param(&b, " WHERE id = $?", json_integer(id));
    rc = store__sqlb_run(tx, &b, NULL);
    if (!rc)
        rc = store_article_get(tx, id, out);
    if (!rc)
        rc = version_write(tx, *out);
    if (!rc)
        rc = kb_changed(tx, id);
    if (!rc)
        rc = store__audit(tx, "update", "article", id, client, NULL);
    return rc;
}

int store_article_list(store_tx *tx, json_t *query, json_t **out)
{
    static const struct {
        const char *key, *sql;
    } eq[] = {
        {"client_id", " AND client_id = $?"},
        {"status", " AND status = $?"},
        {"audience", " AND audience = $?"},
    };
    int64_t limit;
    json_t *rows = NULL, *row;
    size_t i;
    sqlb b;
    int rc = store__list_start(tx, query, "SELECT " ARTICLE_COLUMNS " FROM articles", "id", &b,
                               &limit);
    if (rc)
        return rc;
    for (i = 0; i < sizeof eq / sizeof *eq; i++) {
        json_t *v = json_object_get(query, eq[i].key);
        if (v)
            store__sqlb_param(&b, eq[i].sql, json_incref(v));
    }
    rc = store__list_finish(tx, &b, "client_id", "id", limit, &rows);
    if (rc)
        return rc;
    json_array_foreach (rows, i, row)
        article_shape(row);
    *out = store__page(rows, limit);
    return *out ? 0 : CD_ENOMEM;
}

int store_article_versions(store_tx *tx, int64_t id, json_t **out)
{
    json_t *cur = NULL, *rows = NULL, *row;
    size_t i;
    int rc = store_article_get(tx, id, &cur);
    json_decref(cur);
    if (!rc)
        rc = store__q(tx,
                      "SELECT article_id, version, title, body, tags, audience, status, "
                      "author_id, at FROM article_versions WHERE article_id = $1 "
                      "ORDER BY version DESC",
                      json_pack("[I]", (json_int_t)id), &rows);
    if (rc)
        return rc;
    json_array_foreach (rows, i, row)
        store__parse_column(row, "tags", "[]");
    *out = json_pack("{s:o, s:n}", "items", rows, "next_cursor");
    return *out ? 0 : CD_ENOMEM;
}

int store_article_feedback(store_tx *tx, int64_t interaction_id, int64_t article_id, int helpful,
                           json_t **out)
{
    json_t *it = NULL, *art = NULL;
    int rc = store_interaction_get(tx, interaction_id, &it);
    if (!rc)
        rc = store_article_get(tx, article_id, &art);
    if (!rc && store__int(it, "client_id") != store__int(art, "client_id"))
        rc = CD_ENOTFOUND; /* another client's article: as if it did not exist */
    int64_t client = rc ? 0 : store__int(it, "client_id");
    json_decref(it);
    json_decref(art);
    if (!rc)
        rc = store__q1(tx,
                       "INSERT INTO article_feedback (client_id, article_id, interaction_id, "
                       "user_id, helpful, at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, "
                       "client_id, article_id, interaction_id, user_id, helpful, at",
                       json_pack("[IIIoiI]", (json_int_t)client, (json_int_t)article_id,
                                 (json_int_t)interaction_id,
                                 tx->ctx.user_id ? json_integer(tx->ctx.user_id) : json_null(),
                                 helpful ? 1 : 0, (json_int_t)tx->now),
                       out);
    if (!rc) {
        json_object_set_new(*out, "helpful", json_boolean(helpful));
        rc = store__audit(tx, "feedback", "article", article_id, client, NULL);
    }
    return rc;
}

int store_article_feedback_counts(store_tx *tx, int64_t client, json_t **out)
{
    return store__q(tx,
                    "SELECT article_id, SUM(helpful) AS helpful, COUNT(*) - SUM(helpful) AS "
                    "not_helpful FROM article_feedback WHERE client_id = $1 GROUP BY article_id",
                    json_pack("[I]", (json_int_t)client), out);
}

int store_kb_changes(store_tx *tx, int64_t after, int limit, int64_t *head, json_t **out)
{
    json_t *row = NULL;
    if (!tx->ctx.all_clients)
        return CD_EFORBIDDEN;
    int rc = store__q1(tx, "SELECT seq FROM kb_head WHERE id = 1", NULL, &row);
    if (rc)
        return rc;
    *head = store__int(row, "seq");
    json_decref(row);
    rc = store__q(tx,
                  "SELECT c.seq, a." ARTICLE_COLUMNS_A " FROM kb_changes c JOIN articles a ON "
                  "a.id = c.article_id WHERE c.seq > $1 ORDER BY c.seq LIMIT $2",
                  json_pack("[Ii]", (json_int_t)after, limit), out);
    if (!rc) {
        size_t i;
        json_array_foreach (*out, i, row)
            article_shape(row);
    }
    return rc;
}

int store_kb_published(store_tx *tx, int64_t *head, json_t **out)
{
    json_t *row = NULL;
    if (!tx->ctx.all_clients)
        return CD_EFORBIDDEN;
    int rc = store__q1(tx, "SELECT seq FROM kb_head WHERE id = 1", NULL, &row);
    if (rc)
        return rc;
    *head = store__int(row, "seq");
    json_decref(row);
    rc = store__q(tx,
                  "SELECT " ARTICLE_COLUMNS " FROM articles WHERE status = 'published' ORDER BY id",
                  NULL, out);
    if (!rc) {
        size_t i;
        json_array_foreach (*out, i, row)
            article_shape(row);
    }
    return rc;
}

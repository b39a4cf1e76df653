/* cmd_admin.c - init, migrate, client add, user add, token create and
 * audit verify: the small administrative subcommands. */
#include "cli/cli.h"

#include "core/cd_err.h"
#include "server/auth.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs fn in one system write transaction and commits. */
static int in_tx(store *st, const char *what, int (*fn)(store_tx *, void *), void *arg)
{
    store_tx *tx = NULL;
    int rc = cli_begin(st, 1, &tx);
    if (!rc)
        rc = fn(tx, arg);
    if (rc) {
        cli_report(what, tx, rc);
        store_rollback(tx);
        return 1;
    }
    rc = store_commit(tx);
    if (rc) {
        cli_report(what, NULL, rc);
        return 1;
    }
    return 0;
}

/* --- user add (and init's first admin) -------------------------------- */

typedef struct user_args {
    const char *email, *name, *role, *password;
    const char *clients[32];
    int nclients;
} user_args;

static int user_add_tx(store_tx *tx, void *arg)
{
    user_args *a = arg;
    char hash[crypto_pwhash_STRBYTES];
    json_t *ids = json_array(), *out = NULL, *in;
    int rc = 0;
    for (int i = 0; i < a->nclients && !rc; i++) {
        int64_t id;
        rc = store_client_by_slug(tx, a->clients[i], &id);
        if (rc)
            fprintf(stderr, "caredesk: no client '%s'\n", a->clients[i]);
        json_array_append_new(ids, json_integer(id));
    }
    if (!rc && a->password && auth_password_hash(a->password, hash))
        rc = CD_ENOMEM;
    in = json_pack("{s:s, s:s, s:s, s:s?, s:O}", "email", a->email, "name",
                   a->name ? a->name : a->email, "role", a->role, "password_hash",
                   a->password ? hash : NULL, "clients", ids);
    if (!rc)
        rc = in ? store_user_create(tx, in, &out) : CD_ENOMEM;
    if (!rc)
        printf("user %lld %s (%s)\n", (long long)json_integer_value(json_object_get(out, "id")),
               a->email, a->role);
    json_decref(in);
    json_decref(out);
    json_decref(ids);
    return rc;
}

static const char *password_from_env(const char *given)
{
    return given ? given : getenv("CAREDESK_PASSWORD");
}

int cmd_user(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},       {"email", required_argument, 0, 'e'},
        {"name", required_argument, 0, 'n'},     {"role", required_argument, 0, 'r'},
        {"password", required_argument, 0, 'p'}, {"client", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *db = CLI_DEFAULT_DB;
    user_args a = {.role = "agent"};
    store *st;
    int c, rc;
    if (argc < 2 || strcmp(argv[1], "add") != 0 || cli_wants_help(argc, argv)) {
        printf("usage: caredesk user add --email E --role ROLE [--name N] [--password P]\n"
               "                         [--client SLUG]... [--db TARGET]\n"
               "Roles: admin supervisor agent qa wfm client_viewer. The password may also\n"
               "come from CAREDESK_PASSWORD; without one the user cannot log in (tokens only).\n");
        return cli_wants_help(argc, argv) ? 0 : 2;
    }
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'e':
            a.email = optarg;
            break;
        case 'n':
            a.name = optarg;
            break;
        case 'r':
            a.role = optarg;
            break;
        case 'p':
            a.password = optarg;
            break;
        case 'c':
            if (a.nclients < 32)
                a.clients[a.nclients++] = optarg;
            break;
        default:
            return 2;
        }
    }
    if (!a.email) {
        fprintf(stderr, "caredesk: user add needs --email\n");
        return 2;
    }
    a.password = password_from_env(a.password);
    if (cli_open(db, 1, &st))
        return 1;
    rc = in_tx(st, "user add", user_add_tx, &a);
    store_close(st);
    return rc;
}

int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"admin-email", required_argument, 0, 'e'},
                                         {"admin-password", required_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = CLI_DEFAULT_DB;
    user_args a = {.role = "admin", .name = "Administrator"};
    store *st;
    int c, rc = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'e':
            a.email = optarg;
            break;
        case 'p':
            a.password = optarg;
            break;
        case 'h':
            printf("usage: caredesk init [--db TARGET] [--admin-email E --admin-password P]\n"
                   "Creates the store (default %s) with every migration applied and,\n"
                   "if asked, a first administrator (password also from CAREDESK_PASSWORD).\n",
                   CLI_DEFAULT_DB);
            return 0;
        default:
            return 2;
        }
    }
    if (cli_open(db, 1, &st))
        return 1;
    printf("store ready: %s (%s)\n", db, store_backend_name(st));
    a.password = password_from_env(a.password);
    if (a.email)
        rc = in_tx(st, "init", user_add_tx, &a);
    store_close(st);
    return rc;
}

int cmd_migrate(int argc, char **argv)
{
    const char *db = CLI_DEFAULT_DB;
    char err[256] = "";
    store *st;
    int applied = 0, rc;
    if (cli_wants_help(argc, argv)) {
        printf("usage: caredesk migrate [--db TARGET]\nApplies pending schema migrations.\n");
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "--db") == 0)
        db = argv[2];
    rc = store_open(db, 1, &st, err, sizeof err);
    if (rc) {
        fprintf(stderr, "caredesk: cannot open store %s: %s\n", db, err);
        return 1;
    }
    rc = store_migrate(st, &applied);
    printf("%d migration(s) applied\n", applied);
    store_close(st);
    return rc ? 1 : 0;
}

/* --- client add ------------------------------------------------------- */

static int client_add_tx(store_tx *tx, void *arg)
{
    json_t *out = NULL;
    int rc = store_client_create(tx, arg, &out);
    if (!rc)
        printf("client %lld %s\n", (long long)json_integer_value(json_object_get(out, "id")),
               json_string_value(json_object_get(out, "slug")));
    json_decref(out);
    return rc;
}

int cmd_client(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},   {"slug", required_argument, 0, 's'},
        {"name", required_argument, 0, 'n'}, {"display-name", required_argument, 0, 'D'},
        {"from", required_argument, 0, 'f'}, {"signature", required_argument, 0, 'S'},
        {"tone", required_argument, 0, 't'}, {"timezone", required_argument, 0, 'z'},
        {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    const char *db = CLI_DEFAULT_DB;
    json_t *in = json_object(), *brand = json_object();
    store *st;
    int c, rc;
    if (argc < 2 || strcmp(argv[1], "add") != 0 || cli_wants_help(argc, argv)) {
        printf("usage: caredesk client add --slug S --name N [--display-name D] [--from ADDR]\n"
               "                           [--signature TEXT] [--tone TEXT] [--timezone TZ]\n"
               "                           [--db TARGET]\n");
        json_decref(in);
        json_decref(brand);
        return cli_wants_help(argc, argv) ? 0 : 2;
    }
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 's':
            json_object_set_new(in, "slug", json_string(optarg));
            break;
        case 'n':
            json_object_set_new(in, "name", json_string(optarg));
            break;
        case 'D':
            json_object_set_new(brand, "display_name", json_string(optarg));
            break;
        case 'f':
            json_object_set_new(brand, "from_address", json_string(optarg));
            break;
        case 'S':
            json_object_set_new(brand, "signature", json_string(optarg));
            break;
        case 't':
            json_object_set_new(brand, "tone_notes", json_string(optarg));
            break;
        case 'z':
            json_object_set_new(in, "timezone", json_string(optarg));
            break;
        default:
            json_decref(in);
            json_decref(brand);
            return 2;
        }
    }
    json_object_set_new(in, "brand", brand);
    if (cli_open(db, 1, &st)) {
        json_decref(in);
        return 1;
    }
    rc = in_tx(st, "client add", client_add_tx, in);
    json_decref(in);
    store_close(st);
    return rc;
}

/* --- token create ----------------------------------------------------- */

typedef struct token_args {
    const char *email, *name;
} token_args;

static int token_create_tx(store_tx *tx, void *arg)
{
    token_args *a = arg;
    char token[AUTH_TOKEN_LEN], hash[AUTH_HASH_HEX];
    json_t *user = NULL, *out = NULL;
    int rc = store_user_by_email(tx, a->email, &user);
    if (rc == CD_ENOTFOUND)
        fprintf(stderr, "caredesk: no active user %s\n", a->email);
    if (rc)
        return rc;
    auth_token_new("cdt_", token);
    auth_token_hash(token, hash);
    rc = store_token_create(tx, json_integer_value(json_object_get(user, "id")), a->name, hash,
                            &out);
    if (!rc)
        printf("%s\n", token);
    json_decref(user);
    json_decref(out);
    return rc;
}

int cmd_token(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"email", required_argument, 0, 'e'},
                                         {"name", required_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = CLI_DEFAULT_DB;
    token_args a = {.name = "cli"};
    store *st;
    int c, rc;
    if (argc < 2 || strcmp(argv[1], "create") != 0 || cli_wants_help(argc, argv)) {
        printf("usage: caredesk token create --email E [--name N] [--db TARGET]\n"
               "Prints a new API token for the user (send as 'Authorization: Bearer TOKEN').\n"
               "It is shown once; only its hash is kept.\n");
        return cli_wants_help(argc, argv) ? 0 : 2;
    }
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'e':
            a.email = optarg;
            break;
        case 'n':
            a.name = optarg;
            break;
        default:
            return 2;
        }
    }
    if (!a.email) {
        fprintf(stderr, "caredesk: token create needs --email\n");
        return 2;
    }
    if (cli_open(db, 1, &st))
        return 1;
    rc = in_tx(st, "token create", token_create_tx, &a);
    store_close(st);
    return rc;
}

/* --- audit verify ----------------------------------------------------- */

int cmd_audit(int argc, char **argv)
{
    const char *db = CLI_DEFAULT_DB;
    int64_t bad = 0, checked = 0;
    store *st;
    int rc;
    if (argc < 2 || strcmp(argv[1], "verify") != 0 || cli_wants_help(argc, argv)) {
        printf("usage: caredesk audit verify [--db TARGET]\n"
               "Walks the audit log's hash chain; exit 0 if intact, 1 with the first\n"
               "broken entry if not.\n");
        return cli_wants_help(argc, argv) ? 0 : 2;
    }
    if (argc >= 4 && strcmp(argv[2], "--db") == 0)
        db = argv[3];
    if (cli_open(db, 1, &st))
        return 1;
    rc = store_audit_verify(st, &bad, &checked);
    store_close(st);
    if (rc) {
        fprintf(stderr, "caredesk: audit verify failed: %s\n", cd_strerror(rc));
        return 1;
    }
    if (bad) {
        printf("audit chain BROKEN at entry %lld (%lld entries before it are intact)\n",
               (long long)bad, (long long)(bad - 1));
        return 1;
    }
    printf("audit chain intact: %lld entries\n", (long long)checked);
    return 0;
}

/* cmd_mail.c - mail-ingest: one message from a mail transfer agent's pipe
 * into the store. Exit codes follow sysexits(3), which MTAs understand:
 * 0 the message is stored (or was already), 75 a temporary failure (the
 * store is busy or unreachable: the MTA keeps the message and tries again),
 * 67 no such client, 65 nothing of the message could be kept, 64 usage. */
#include "cli/cli.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/mail.h"
#include "core/vault.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_DATAERR_ 65
#define EX_NOUSER_ 67
#define EX_SOFTWARE_ 70
#define EX_TEMPFAIL_ 75

#define MAIL_MAX_BYTES (64u << 20) /* larger input is refused as data error */

static int read_all(FILE *f, char **out, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *p = cd_malloc(cap);
    if (!p)
        return CD_ENOMEM;
    for (;;) {
        if (n == cap) {
            if (cap >= MAIL_MAX_BYTES) {
                cd_free(p);
                return CD_ETOOBIG;
            }
            char *more = cd_realloc(p, cap * 2);
            if (!more) {
                cd_free(p);
                return CD_ENOMEM;
            }
            p = more;
            cap *= 2;
        }
        size_t got = fread(p + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        cd_free(p);
        return CD_EIO;
    }
    *out = p;
    *len = n;
    return 0;
}

static int exit_for(int rc)
{
    switch (rc) {
    case 0:
        return EX_OK_;
    case CD_ENOTFOUND:
        return EX_NOUSER_;
    case CD_EBUSY:
    case CD_EIO:
    case CD_ENOMEM:
        return EX_TEMPFAIL_;
    default:
        return EX_SOFTWARE_;
    }
}

/* The client's id by its slug. */
static int client_of(store *st, const char *slug, int64_t *client)
{
    store_tx *tx = NULL;
    int rc = cli_begin(st, 0, &tx);
    if (rc)
        return rc;
    rc = store_client_by_slug(tx, slug, client);
    if (rc == CD_ENOTFOUND)
        fprintf(stderr, "caredesk: no client '%s'\n", slug);
    else if (rc)
        cli_report("mail-ingest", tx, rc);
    store_rollback(tx);
    return rc;
}

int cmd_mail_ingest(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"client", required_argument, 0, 'c'},
                                         {"key-file", required_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = CLI_DEFAULT_DB, *slug = NULL, *key_file = CLI_DEFAULT_KEY_FILE;
    int explicit_key = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:c:k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'c':
            slug = optarg;
            break;
        case 'k':
            key_file = optarg;
            explicit_key = 1;
            break;
        case 'h':
            printf("usage: caredesk mail-ingest --client SLUG [--db TARGET] [--key-file PATH] "
                   "< MESSAGE\n\n"
                   "Stores one message (RFC 5322) read from standard input for the client.\n"
                   "Exit: 0 stored, 75 temporary failure (retry later), 67 no such client,\n"
                   "65 nothing of the message could be kept, 64 usage.\n");
            return EX_OK_;
        default:
            return EX_USAGE_;
        }
    }
    if (!slug) {
        fprintf(stderr, "caredesk: mail-ingest needs --client SLUG\n");
        return EX_USAGE_;
    }
    char *raw = NULL;
    size_t len = 0;
    int rc = read_all(stdin, &raw, &len);
    if (rc == CD_ETOOBIG || (!rc && len == 0)) {
        fprintf(stderr, "caredesk: %s\n", rc ? "the message is too large" : "no message given");
        cd_free(raw);
        return EX_DATAERR_;
    }
    if (rc) {
        fprintf(stderr, "caredesk: cannot read the message (%s)\n", cd_strerror(rc));
        return EX_TEMPFAIL_;
    }
    mail_msg *m = NULL;
    rc = mail_parse(raw, len, &m);
    if (rc) {
        cd_free(raw);
        return exit_for(rc);
    }
    store *st = NULL;
    vault *v = NULL;
    json_t *out = NULL;
    if (cli_open(db, 1, &st)) {
        mail_free(m);
        cd_free(raw);
        return EX_TEMPFAIL_;
    }
    if (cli_load_vault(key_file, explicit_key, st, &v)) {
        rc = CD_EIO;
        goto done;
    }
    int64_t client = 0;
    rc = client_of(st, slug, &client);
    if (rc)
        goto done;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char err[600] = "";
    rc = store_mail_receive(st, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, client, raw,
                            len, m, &out, err, sizeof err);
    if (rc)
        fprintf(stderr, "caredesk: mail-ingest failed: %s\n", err);
    /* Data the store refuses even as a raw copy. */
    if (rc == CD_EINVAL || rc == CD_ETOOBIG || rc == CD_ESTATE || rc == CD_ECONFLICT) {
        store_close(st);
        vault_free(v);
        mail_free(m);
        cd_free(raw);
        return EX_DATAERR_;
    }
    if (!rc && out) {
        char *text = json_dumps(out, JSON_COMPACT);
        if (text)
            printf("%s\n", text);
        cd_free(text);
    }
done:
    json_decref(out);
    store_close(st);
    vault_free(v);
    mail_free(m);
    cd_free(raw);
    return exit_for(rc);
}

/* cmd_common.c - what every subcommand shares: opening the store. */
#include "cli/cli.h"

#include "core/cd_err.h"
#include "core/vault.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void cli_make_parent(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    char *dir = dirname(copy);
    if (strcmp(dir, ".") != 0 && mkdir(dir, 0750) != 0 && errno != EEXIST)
        fprintf(stderr, "caredesk: cannot create %s: %s\n", dir, strerror(errno));
}

int cli_open(const char *target, int pool, store **out)
{
    char err[256] = "";
    int applied = 0, rc;
    if (strncmp(target, "postgres", 8) != 0)
        cli_make_parent(target);
    rc = store_open(target, pool, out, err, sizeof err);
    if (rc) {
        fprintf(stderr, "caredesk: cannot open store %s: %s\n", target, err);
        return rc;
    }
    rc = store_migrate(*out, &applied);
    if (rc) {
        fprintf(stderr, "caredesk: migration failed (%s)\n", cd_strerror(rc));
        store_close(*out);
        *out = NULL;
    }
    return rc;
}

int cli_begin(store *st, int write, store_tx **tx)
{
    store_ctx ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    store_ctx_system(&ctx);
    return store_begin(st, &ctx, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, write, tx);
}

void cli_report(const char *what, store_tx *tx, int rc)
{
    const char *field = tx ? store_err_field(tx) : "";
    const char *msg = tx ? store_err_message(tx) : "";
    fprintf(stderr, "caredesk: %s failed: %s%s%s%s%s\n", what, cd_strerror(rc), *field ? " (" : "",
            field, *field ? ")" : "", "");
    if (msg && *msg)
        fprintf(stderr, "  %s\n", msg);
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

int cli_load_vault(const char *path, int explicit, store *st, vault **out)
{
    char err[512] = "";
    int rc = vault_load(path, out, err, sizeof err);
    if (!rc) {
        store_set_vault(st, *out, NULL);
        return 0;
    }
    *out = NULL;
    if (rc == CD_ENOTFOUND && !explicit) {
        store_set_vault(st, NULL, "no key file is configured (--key-file); see docs/operations.md");
        return 0;
    }
    fprintf(stderr,
            "caredesk: %s\n"
            "caredesk: sensitive customer fields are sealed with the keys in this file. Restore\n"
            "caredesk: it from its backup; without it those values cannot be read again. To\n"
            "caredesk: serve without sensitive fields, start without --key-file.\n",
            err);
    return 1;
}

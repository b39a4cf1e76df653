/* cmd_keys.c - caredesk keys: the key file that seals sensitive customer
 * fields (see src/core/vault.h and docs/operations.md). */
#include "cli/cli.h"

#include "core/cd_err.h"
#include "core/vault.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void help(void)
{
    printf("usage: caredesk keys init [--key-file FILE]\n"
           "       caredesk keys rotate [--db TARGET] [--key-file FILE] [--drop-old]\n\n"
           "init    creates the key file (mode 0600) with one new key; never overwrites.\n"
           "rotate  adds a new key, seals every sensitive value and IMAP password again\n"
           "        with it, and with --drop-old then removes the older keys from the\n"
           "        file. Restart the servers afterwards so they load the new key.\n"
           "  --db        SQLite file or postgresql:// URL (default %s)\n"
           "  --key-file  the key file (default %s)\n",
           CLI_DEFAULT_DB, CLI_DEFAULT_KEY_FILE);
}

int cmd_keys(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"key-file", required_argument, 0, 'k'},
                                         {"drop-old", no_argument, 0, 'x'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = CLI_DEFAULT_DB, *path = CLI_DEFAULT_KEY_FILE, *verb;
    int c, drop_old = 0, rc;
    char err[512] = "";
    if (argc < 2 || cli_wants_help(argc, argv)) {
        help();
        return argc < 2 ? 2 : 0;
    }
    verb = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'd')
            db = optarg;
        else if (c == 'k')
            path = optarg;
        else if (c == 'x')
            drop_old = 1;
        else {
            help();
            return 2;
        }
    }
    if (strcmp(verb, "init") == 0) {
        cli_make_parent(path);
        rc = vault_create(path, err, sizeof err);
        if (rc) {
            fprintf(stderr, "caredesk: %s\n", err);
            return 1;
        }
        printf("created key file %s; back it up: sealed values cannot be read without it\n",
               path);
        return 0;
    }
    if (strcmp(verb, "rotate") != 0) {
        help();
        return 2;
    }
    store *st = NULL;
    vault *v = NULL;
    int64_t count = 0;
    struct timespec ts;
    if (cli_open(db, 1, &st))
        return 1;
    rc = vault_add_key(path, err, sizeof err);
    if (!rc)
        rc = vault_load(path, &v, err, sizeof err);
    if (!rc) {
        clock_gettime(CLOCK_REALTIME, &ts);
        rc = store_vault_reseal(st, v, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &count,
                                err, sizeof err);
    }
    if (!rc)
        printf("sealed %lld values again with key %s\n", (long long)count, vault_active_id(v));
    if (!rc && drop_old) {
        rc = vault_keep_active(path, err, sizeof err);
        if (!rc)
            printf("older keys removed from %s\n", path);
    }
    if (rc)
        fprintf(stderr, "caredesk: key rotation failed: %s\n", err);
    vault_free(v);
    store_close(st);
    return rc ? 1 : 0;
}

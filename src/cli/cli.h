/* cli.h - the caredesk command line: one cmd_<verb>.c per subcommand. */
#ifndef CLI_H
#define CLI_H

#include "store/store.h"

#define CLI_DEFAULT_DB "var/caredesk.db"
#define CLI_DEFAULT_KEY_FILE "var/caredesk.key"

/* Each subcommand: argv[0] is the subcommand's name. Returns an exit code. */
int cmd_init(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_client(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_flow(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_mail_ingest(int argc, char **argv);

/* Opens the store at target (creating var/ for the default SQLite file)
 * and applies pending migrations. Prints the reason on failure. */
int cli_open(const char *target, int pool, store **out);
/* Creates the directory holding path if missing. */
void cli_make_parent(const char *path);
/* Loads the key file and gives it to the store. A missing file is fine
 * unless explicit (the store then explains, when a key is needed, that
 * there is none); any other failure prints why and returns 1. */
struct vault;
int cli_load_vault(const char *path, int explicit, store *st, struct vault **out);
/* Starts a system transaction (sees every client). */
int cli_begin(store *st, int write, store_tx **tx);
/* Prints a store error with its field and message. */
void cli_report(const char *what, store_tx *tx, int rc);
/* 1 if argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

#endif

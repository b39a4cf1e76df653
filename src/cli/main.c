/* main.c - caredesk's entry point: picks the subcommand. */
#include "cli/cli.h"

#include "core/cd_mem.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} commands[] = {
    {"init", cmd_init, "create the store and, optionally, the first administrator"},
    {"serve", cmd_serve, "serve the API and the web UI"},
    {"demo", cmd_demo, "seed a demo: two clients, agents, customers, interactions"},
    {"client", cmd_client, "client add: add a client company"},
    {"user", cmd_user, "user add: add a user"},
    {"token", cmd_token, "token create: make an API token for a user"},
    {"audit", cmd_audit, "audit verify: check the audit log's hash chain"},
    {"migrate", cmd_migrate, "apply pending schema migrations"},
    {"keys", cmd_keys, "keys init | keys rotate: the key file sealing sensitive fields"},
    {"mail-ingest", cmd_mail_ingest, "mail-ingest --client SLUG < MESSAGE: take in one email"},
    {"flow", cmd_flow, "flow lint FILE... | flow run FILE: check or try a guided workflow"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: caredesk COMMAND [options]   (caredesk COMMAND --help for more)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nThe store defaults to %s (SQLite); --db postgresql://... uses PostgreSQL.\n",
            CLI_DEFAULT_DB);
}

int main(int argc, char **argv)
{
    cd_mem_install();
    if (sodium_init() < 0) {
        fprintf(stderr, "caredesk: libsodium failed to start\n");
        return 1;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "caredesk: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

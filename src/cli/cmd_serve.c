/* cmd_serve.c - caredesk serve: the API and web UI until SIGTERM. */
#include "cli/cli.h"

#include "core/sentiment.h"
#include "core/vault.h"
#include "server/automation.h"
#include "server/imap.h"
#include "server/intents.h"
#include "server/knowledge.h"
#include "server/mailer.h"
#include "server/netguard.h"
#include "server/router.h"
#include "server/webhooks.h"
#include "server/server.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(void)
{
    printf("usage: caredesk serve [--db TARGET] [--listen HOST:PORT] [--web DIR] [--threads N]\n"
           "                      [--key-file FILE] [--lexicon DIR] [--webhook-ca FILE]\n"
           "                      [--allow-private-targets] [--quiet]\n\n"
           "Serves the JSON API under /api/v1 and the web UI from DIR (default web).\n"
           "  --db        SQLite file or postgresql:// URL (default %s)\n"
           "  --listen    address to bind (default 127.0.0.1:8080; port 0 picks one)\n"
           "  --threads   worker threads (default 16)\n"
           "  --key-file  keys sealing sensitive customer fields (default %s if it\n"
           "              exists, or $CAREDESK_KEY_FILE); a file named here must load\n"
           "  --lexicon   sentiment lexicons (default $CAREDESK_LEXICON, else the\n"
           "              project's lexicon/ that scripts/install-deps.sh fills)\n"
           "  --webhook-ca  CA bundle to verify webhook receivers with, instead of the\n"
           "              system's (or $CAREDESK_WEBHOOK_CA); IMAP servers too unless\n"
           "              $CAREDESK_IMAP_CA names another\n"
           "  --allow-private-targets  let webhook receivers and IMAP servers be at\n"
           "              loopback, private or link-local addresses (or set\n"
           "              $CAREDESK_ALLOW_PRIVATE_TARGETS=1); by default only public\n"
           "              addresses are reached\n"
           "  --quiet     no per-request log lines\n"
           "On start it prints 'listening on http://HOST:PORT'. SIGTERM or SIGINT stops\n"
           "it after the requests in flight finish.\n",
           CLI_DEFAULT_DB, CLI_DEFAULT_KEY_FILE);
}

static int parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= hostlen)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *port = atoi(colon + 1);
    return *port >= 0 && *port < 65536 ? 0 : -1;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"listen", required_argument, 0, 'l'},
                                         {"web", required_argument, 0, 'w'},
                                         {"threads", required_argument, 0, 't'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"key-file", required_argument, 0, 'k'},
                                         {"lexicon", required_argument, 0, 'x'},
                                         {"webhook-ca", required_argument, 0, 'C'},
                                         {"allow-private-targets", no_argument, 0, 'P'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = CLI_DEFAULT_DB, *listen = "127.0.0.1:8080", *key_file = NULL;
    struct vault *keys = NULL;
    const char *lexicon = NULL, *webhook_ca = getenv("CAREDESK_WEBHOOK_CA");
    int allow_private = netguard_allow_private_from_env();
    sentiment_model *mood = NULL;
    server_config cfg = {
        .web_root = "web", .threads = 16, .body_limit = 1 << 20, .log_requests = 1};
    char host[64], err[256] = "";
    int c, sig;
    store *st = NULL;
    server *srv = NULL;
    router *rt = NULL;
    sigset_t set;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'w':
            cfg.web_root = optarg;
            break;
        case 't':
            cfg.threads = atoi(optarg);
            break;
        case 'q':
            cfg.log_requests = 0;
            break;
        case 'k':
            key_file = optarg;
            break;
        case 'x':
            lexicon = optarg;
            break;
        case 'C':
            webhook_ca = optarg;
            break;
        case 'P':
            allow_private = 1;
            break;
        case 'h':
            help();
            return 0;
        default:
            help();
            return 2;
        }
    }
    if (parse_listen(listen, host, sizeof host, &cfg.port)) {
        fprintf(stderr, "caredesk: --listen wants HOST:PORT\n");
        return 2;
    }
    cfg.host = host;
    if (cfg.threads < 1 || cfg.threads > 256)
        cfg.threads = 16;
    /* Workers inherit this mask, so only sigwait below sees the signals. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (cli_open(db, cfg.threads + 8, &st))
        return 1;
    if (!key_file && getenv("CAREDESK_KEY_FILE") && *getenv("CAREDESK_KEY_FILE"))
        key_file = getenv("CAREDESK_KEY_FILE");
    if (cli_load_vault(key_file ? key_file : CLI_DEFAULT_KEY_FILE, key_file != NULL, st, &keys)) {
        store_close(st);
        return 1;
    }
    if (sentiment_load_dir(lexicon, 0, &mood, err, sizeof err) == 0)
        store_set_sentiment(st, mood);
    else
        fprintf(stderr, "caredesk: %s; messages get no sentiment\n", err);
    if (server_start(&cfg, st, &srv, err, sizeof err)) {
        fprintf(stderr, "caredesk: %s\n", err);
        store_close(st);
        vault_free(keys);
        sentiment_free(mood);
        return 1;
    }
    knowledge *kb = NULL;
    if (knowledge_start(st, &kb, err, sizeof err) == 0)
        server_attach_knowledge(srv, kb);
    else
        fprintf(stderr, "caredesk: %s; serving without knowledge-base search\n", err);
    intents *models = NULL;
    if (intents_start(st, &models, err, sizeof err) == 0)
        server_attach_intents(srv, models);
    else
        fprintf(stderr, "caredesk: %s; serving without intent routing\n", err);
    char name[160], hostname[64] = "host";
    gethostname(hostname, sizeof hostname - 1);
    snprintf(name, sizeof name, "%s:%d:%d", hostname, (int)getpid(), server_port(srv));
    webhooks *hooks = NULL;
    webhooks_config wcfg = {.name = name, .ca_file = webhook_ca, .allow_private = allow_private};
    if (getenv("CAREDESK_WEBHOOK_RETRY_MS"))
        wcfg.retry_ms = atoll(getenv("CAREDESK_WEBHOOK_RETRY_MS"));
    if (webhooks_start(st, &wcfg, &hooks) == 0)
        server_attach_webhooks(srv, hooks);
    else
        fprintf(stderr, "caredesk: the webhook deliverer could not start\n");
    automation *clocks = NULL;
    if (automation_start(st,
                         getenv("CAREDESK_AUTOMATION_POLL_MS")
                             ? atoll(getenv("CAREDESK_AUTOMATION_POLL_MS"))
                             : 0,
                         &clocks) != 0)
        fprintf(stderr, "caredesk: idle rules and clocks could not start\n");
    if (router_start(st, server_hub(srv), name, &rt) == 0)
        server_attach_router(srv, rt);
    else
        fprintf(stderr, "caredesk: routing could not start; serving without it\n");
    mailer *outbox = NULL;
    if (mailer_start(st, name, allow_private, &outbox) != 0)
        fprintf(stderr, "caredesk: the email sender could not start; serving without it\n");
    imap_poller *mailboxes = NULL;
    const char *imap_ca = getenv("CAREDESK_IMAP_CA");
    imap_config icfg = {.name = name,
                        .ca_file = imap_ca && *imap_ca ? imap_ca : webhook_ca,
                        .allow_private = allow_private};
    if (getenv("CAREDESK_IMAP_WORKERS"))
        icfg.workers = atoi(getenv("CAREDESK_IMAP_WORKERS"));
    if (getenv("CAREDESK_IMAP_TIMEOUT_MS"))
        icfg.timeout_ms = atoi(getenv("CAREDESK_IMAP_TIMEOUT_MS"));
    if (getenv("CAREDESK_IMAP_IDLE_MS"))
        icfg.idle_ms = atoi(getenv("CAREDESK_IMAP_IDLE_MS"));
    if (imap_poller_start(st, &icfg, &mailboxes) != 0)
        fprintf(stderr, "caredesk: the IMAP poller could not start; serving without it\n");
    printf("listening on http://%s:%d\n", host, server_port(srv));
    fflush(stdout);
    sigwait(&set, &sig);
    fprintf(stderr, "caredesk: %s received, finishing requests in flight\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    /* Requests first (they wake the router), then the router (it
     * publishes on the server's streams), then the rest. */
    server_stop(srv, 10000);
    router_stop(rt);
    mailer_stop(outbox);
    imap_poller_stop(mailboxes);
    knowledge_stop(kb);
    intents_stop(models);
    webhooks_stop(hooks);
    automation_stop(clocks);
    server_destroy(srv);
    store_close(st);
    vault_free(keys);
    sentiment_free(mood);
    return 0;
}

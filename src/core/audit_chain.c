/* audit_chain.c - hash chaining of audit entries. */
#include "core/audit_chain.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

const char audit_chain_genesis[AUDIT_HASH_HEX] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static void feed(crypto_generichash_state *st, const char *s)
{
    crypto_generichash_update(st, (const unsigned char *)s, strlen(s));
    crypto_generichash_update(st, (const unsigned char *)"|", 1);
}

static void feed_int(crypto_generichash_state *st, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    feed(st, buf);
}

void audit_chain_hash(const char *prev_hex, const audit_entry *e, char out[AUDIT_HASH_HEX])
{
    crypto_generichash_state st;
    unsigned char digest[32];

    crypto_generichash_init(&st, NULL, 0, sizeof digest);
    feed(&st, prev_hex);
    feed_int(&st, e->seq);
    feed_int(&st, e->at);
    feed_int(&st, e->actor_id);
    feed(&st, e->action ? e->action : "");
    feed(&st, e->entity ? e->entity : "");
    feed_int(&st, e->entity_id);
    feed_int(&st, e->client_id);
    feed(&st, e->detail ? e->detail : "");
    crypto_generichash_final(&st, digest, sizeof digest);
    sodium_bin2hex(out, AUDIT_HASH_HEX, digest, sizeof digest);
}

/* audit_chain.h - the hash that links one audit entry to the one before.
 *
 * hash(n) = hex(BLAKE2b-256(prev_hash | seq | at | actor | action | entity |
 * entity_id | client_id | detail)), with '|' separators and integers in
 * decimal. Changing or deleting any entry breaks every later link, which
 * `caredesk audit verify` reports. */
#ifndef AUDIT_CHAIN_H
#define AUDIT_CHAIN_H

#include <stdint.h>

#define AUDIT_HASH_HEX 65 /* 64 hex digits and a NUL */

typedef struct audit_entry {
    int64_t seq, at, actor_id, entity_id, client_id;
    const char *action, *entity, *detail;
} audit_entry;

/* The hash before the first entry: 64 zeros. */
extern const char audit_chain_genesis[AUDIT_HASH_HEX];

/* Writes the entry's hash, chained to prev_hex, into out. */
void audit_chain_hash(const char *prev_hex, const audit_entry *e, char out[AUDIT_HASH_HEX]);

#endif

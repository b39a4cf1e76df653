/* vault.h - sealing sensitive values with keys kept outside the database.
 *
 * A key file holds one key per line, "caredesk-key <id> <base64 key>",
 * the last line being the active key; it is created with mode 0600. A
 * value is sealed with XChaCha20-Poly1305 (libsodium) under the active key,
 * bound to a context string (which row and field it belongs to), and
 * stored as "v1:<key id>:<base64 of nonce and ciphertext>". Opening needs
 * the key the value names, so older keys stay in the file until every
 * value is sealed again with the new one (`caredesk keys rotate`).
 *
 * A lost key file cannot be repaired: values sealed with its keys are gone.
 * Every failure says which: no key file, no such key in it, or a value
 * that does not open (tampered, or moved to another row or field). */
#ifndef VAULT_H
#define VAULT_H

#include <stddef.h>

typedef struct vault vault;

#define VAULT_ID_LEN 8 /* hex characters of a key id */

/* Loads the key file at path. CD_ENOTFOUND if there is no file, CD_EINVAL
 * if it is malformed; err receives a message either way. */
int vault_load(const char *path, vault **out, char *err, size_t errlen);
void vault_free(vault *v);

/* Creates a key file holding one new key; CD_ECONFLICT if it exists. */
int vault_create(const char *path, char *err, size_t errlen);

/* Appends a new key to the file (it becomes the active key), writing the
 * file again atomically. */
int vault_add_key(const char *path, char *err, size_t errlen);

/* Drops every key but the active one from the file. */
int vault_keep_active(const char *path, char *err, size_t errlen);

/* Id of the active key (NUL-terminated, VAULT_ID_LEN characters). */
const char *vault_active_id(const vault *v);

/* Number of keys loaded. */
size_t vault_key_count(const vault *v);

/* Seals value[0..n) under the active key, bound to context. *out is a new
 * NUL-terminated string (cd_free). */
int vault_seal(const vault *v, const char *context, const char *value, size_t n, char **out);

/* Opens a sealed value bound to context. *out is a new NUL-terminated
 * string (cd_free). CD_ENOTFOUND: its key is not in the file; CD_EINVAL:
 * malformed, tampered with, or bound to another context. */
int vault_unseal(const vault *v, const char *context, const char *sealed, char **out);

/* The key id a sealed value names (copied into id, VAULT_ID_LEN + 1 bytes);
 * CD_EINVAL if the value is not sealed. */
int vault_key_of(const char *sealed, char *id);

#endif

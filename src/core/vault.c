/* vault.c - see vault.h. */
#include "core/vault.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_LEN crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define MAX_KEYS 64
#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

typedef struct vkey {
    char id[VAULT_ID_LEN + 1];
    unsigned char key[KEY_LEN];
} vkey;

struct vault {
    size_t n;
    vkey keys[MAX_KEYS]; /* keys[n - 1] is active */
};

static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int parse_line(char *line, vkey *k)
{
    char id[32], b64[128];
    size_t len = 0;
    if (sscanf(line, "caredesk-key %31s %127s", id, b64) != 2 || strlen(id) != VAULT_ID_LEN ||
        strspn(id, "0123456789abcdef") != VAULT_ID_LEN)
        return CD_EINVAL;
    if (sodium_base642bin(k->key, KEY_LEN, b64, strlen(b64), NULL, &len, NULL, B64) != 0 ||
        len != KEY_LEN)
        return CD_EINVAL;
    memcpy(k->id, id, VAULT_ID_LEN + 1);
    return 0;
}

int vault_load(const char *path, vault **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[256];
    int lineno = 0;
    if (!f)
        return fail(errno == ENOENT ? CD_ENOTFOUND : CD_EIO, err, errlen,
                    "key file %s cannot be read: %s", path, strerror(errno));
    vault *v = cd_calloc(1, sizeof *v);
    if (!v) {
        fclose(f);
        return CD_ENOMEM;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (v->n == MAX_KEYS || parse_line(line, &v->keys[v->n]) != 0) {
            fclose(f);
            vault_free(v);
            return fail(CD_EINVAL, err, errlen, "key file %s: line %d is not a key", path, lineno);
        }
        v->n++;
    }
    fclose(f);
    sodium_memzero(line, sizeof line);
    if (!v->n) {
        vault_free(v);
        return fail(CD_EINVAL, err, errlen, "key file %s holds no key", path);
    }
    *out = v;
    return 0;
}

void vault_free(vault *v)
{
    if (!v)
        return;
    sodium_memzero(v, sizeof *v);
    cd_free(v);
}

const char *vault_active_id(const vault *v)
{
    return v->keys[v->n - 1].id;
}

size_t vault_key_count(const vault *v)
{
    return v->n;
}

static void new_key(vkey *k)
{
    unsigned char raw[VAULT_ID_LEN / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(k->id, sizeof k->id, raw, sizeof raw);
    crypto_aead_xchacha20poly1305_ietf_keygen(k->key);
}

/* Writes keys to path through a temporary file, fsync and rename. */
static int write_keys(const char *path, const vkey *keys, size_t n, int exclusive, char *err,
                      size_t errlen)
{
    char tmp[4096], b64[sodium_base64_ENCODED_LEN(KEY_LEN, B64)];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return fail(CD_EIO, err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# caredesk keys: keep this file outside the database and back it up.\n"
               "# Losing it makes the sensitive fields sealed with its keys unreadable.\n");
    for (size_t i = 0; i < n; i++) {
        sodium_bin2base64(b64, sizeof b64, keys[i].key, KEY_LEN, B64);
        fprintf(f, "caredesk-key %s %s\n", keys[i].id, b64);
    }
    sodium_memzero(b64, sizeof b64);
    int ok = fflush(f) == 0 && fsync(fd) == 0;
    ok &= fclose(f) == 0;
    if (ok && exclusive && link(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return fail(e == EEXIST ? CD_ECONFLICT : CD_EIO, err, errlen, "cannot create %s: %s", path,
                    strerror(e));
    }
    if (ok && exclusive)
        ok = unlink(tmp) == 0;
    else if (ok)
        ok = rename(tmp, path) == 0;
    if (!ok) {
        unlink(tmp);
        return fail(CD_EIO, err, errlen, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

int vault_create(const char *path, char *err, size_t errlen)
{
    vkey k;
    new_key(&k);
    int rc = write_keys(path, &k, 1, 1, err, errlen);
    sodium_memzero(&k, sizeof k);
    return rc;
}

int vault_add_key(const char *path, char *err, size_t errlen)
{
    vault *v = NULL;
    int rc = vault_load(path, &v, err, errlen);
    if (rc)
        return rc;
    if (v->n == MAX_KEYS) {
        vault_free(v);
        return fail(CD_ETOOBIG, err, errlen,
                    "key file %s is full: rotate with --drop-old to keep only the new key", path);
    }
    new_key(&v->keys[v->n++]);
    rc = write_keys(path, v->keys, v->n, 0, err, errlen);
    vault_free(v);
    return rc;
}

int vault_keep_active(const char *path, char *err, size_t errlen)
{
    vault *v = NULL;
    int rc = vault_load(path, &v, err, errlen);
    if (rc)
        return rc;
    rc = write_keys(path, &v->keys[v->n - 1], 1, 0, err, errlen);
    vault_free(v);
    return rc;
}

int vault_key_of(const char *sealed, char *id)
{
    if (!sealed || strncmp(sealed, "v1:", 3) != 0 || strlen(sealed) < 3 + VAULT_ID_LEN + 1 ||
        sealed[3 + VAULT_ID_LEN] != ':')
        return CD_EINVAL;
    memcpy(id, sealed + 3, VAULT_ID_LEN);
    id[VAULT_ID_LEN] = 0;
    return 0;
}

int vault_seal(const vault *v, const char *context, const char *value, size_t n, char **out)
{
    const vkey *k = &v->keys[v->n - 1];
    size_t raw_len = NONCE_LEN + n + TAG_LEN;
    size_t b64_len = sodium_base64_ENCODED_LEN(raw_len, B64);
    unsigned char *raw = cd_malloc(raw_len);
    char *s = cd_malloc(3 + VAULT_ID_LEN + 1 + b64_len);
    if (!raw || !s) {
        cd_free(raw);
        cd_free(s);
        return CD_ENOMEM;
    }
    randombytes_buf(raw, NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt(raw + NONCE_LEN, NULL, (const unsigned char *)value,
                                               n, (const unsigned char *)context, strlen(context),
                                               NULL, raw, k->key);
    memcpy(s, "v1:", 3);
    memcpy(s + 3, k->id, VAULT_ID_LEN);
    s[3 + VAULT_ID_LEN] = ':';
    sodium_bin2base64(s + 4 + VAULT_ID_LEN, b64_len, raw, raw_len, B64);
    cd_free(raw);
    *out = s;
    return 0;
}

int vault_unseal(const vault *v, const char *context, const char *sealed, char **out)
{
    char id[VAULT_ID_LEN + 1];
    const vkey *k = NULL;
    if (vault_key_of(sealed, id))
        return CD_EINVAL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i].id, id) == 0)
            k = &v->keys[i];
    if (!k)
        return CD_ENOTFOUND;
    const char *b64 = sealed + 4 + VAULT_ID_LEN;
    size_t b64_len = strlen(b64), raw_len = 0;
    unsigned char *raw = cd_malloc(b64_len + 1);
    if (!raw)
        return CD_ENOMEM;
    if (sodium_base642bin(raw, b64_len + 1, b64, b64_len, NULL, &raw_len, NULL, B64) != 0 ||
        raw_len < NONCE_LEN + TAG_LEN) {
        cd_free(raw);
        return CD_EINVAL;
    }
    size_t n = raw_len - NONCE_LEN - TAG_LEN;
    char *clear = cd_malloc(n + 1);
    unsigned long long got = 0;
    if (!clear) {
        cd_free(raw);
        return CD_ENOMEM;
    }
    int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(
        (unsigned char *)clear, &got, NULL, raw + NONCE_LEN, raw_len - NONCE_LEN,
        (const unsigned char *)context, strlen(context), raw, k->key);
    cd_free(raw);
    if (bad) {
        cd_free(clear);
        return CD_EINVAL;
    }
    clear[got] = 0;
    *out = clear;
    return 0;
}

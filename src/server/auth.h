/* auth.h - passwords (argon2id), session cookies with CSRF tokens, and API
 * tokens. Secrets are stored only as hashes. */
#ifndef AUTH_H
#define AUTH_H

#include "server/request.h"

#include <sodium.h>

#define AUTH_TOKEN_LEN 64 /* buffer size for a new token */
#define AUTH_HASH_HEX 65  /* BLAKE2b-256 hex and NUL */
#define AUTH_SESSION_MS (12LL * 3600 * 1000)

/* Hashes a password with argon2id (libsodium's interactive limits). */
int auth_password_hash(const char *password, char out[crypto_pwhash_STRBYTES]);
/* 1 if password matches the stored hash, else 0. */
int auth_password_check(const char *password, const char *stored);
/* A new random token, prefix followed by 43 URL-safe characters. */
void auth_token_new(const char *prefix, char out[AUTH_TOKEN_LEN]);
/* The hex BLAKE2b-256 of a token: what the store keeps. */
void auth_token_hash(const char *token, char out[AUTH_HASH_HEX]);

/* Identifies the caller from "Authorization: Bearer" or the session
 * cookie and makes the request's transaction act for them. CD_EAUTH if
 * neither is valid. */
int auth_request(req *r);

#endif

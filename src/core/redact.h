/* redact.h - finds payment cards, card codes, expiry dates, US social
 * security numbers, IBANs and (by policy) email addresses and phone numbers
 * in text, and masks them before the text is stored, logged or sent.
 *
 * Masking works in place and never changes the length: each masked
 * character becomes '*', separators and the last four characters of a
 * number stay, so `4111 1111 1111 1111` becomes `**** **** **** 1111`. The
 * caller learns how many of each kind were masked, never the values.
 *
 * Detection (docs/redaction.md has the details):
 * - card: 13-19 digits, whole groups of digits joined by up to four
 *   separators (space, tab, dash, dot, line break), Luhn-valid, in a known
 *   issuer range for its length. A run of more than 19 digits is not a card.
 * - cvv: a standalone 3-4 digit number after a card-code word (cvv, cvc,
 *   csc, security code, ...) or just after a card.
 * - expiry: MM/YY, MM/YYYY, MM-YY or MM-YYYY after an expiry word (exp,
 *   expires, valid thru, ...) or just after a card.
 * - ssn: AAA-GG-SSSS or AAA GG SSSS with a valid area, group and serial;
 *   nine bare digits only after an SSN word.
 * - iban: country code, two check digits and the country's length of
 *   letters and digits (single spaces allowed), mod-97 valid.
 * - email (REDACT_EMAIL): the local part is masked but its first character.
 * - phone (REDACT_PHONE): 10-15 digits with an optional '+' and the usual
 *   separators, not already a card or SSN.
 *
 * Pure and reentrant: no allocation, no globals written. Linear in the
 * input; any bytes are accepted. */
#ifndef REDACT_H
#define REDACT_H

#include <stddef.h>
#include <stdint.h>

enum redact_kind {
    REDACT_CARD,
    REDACT_CVV,
    REDACT_EXPIRY,
    REDACT_SSN,
    REDACT_IBAN,
    REDACT_EMAIL_ADDR,
    REDACT_PHONE_NUMBER,
    REDACT_NKINDS
};

/* Policy options; cards, codes, expiry dates, SSNs and IBANs are always on. */
#define REDACT_EMAIL 0x1u
#define REDACT_PHONE 0x2u

typedef struct redact_counts {
    uint32_t n[REDACT_NKINDS];
} redact_counts;

/* Masks buf[0..len) in place. Adds what it masked to *counts (which may be
 * NULL) and returns the number of items masked. */
size_t redact_buf(char *buf, size_t len, unsigned opts, redact_counts *counts);

/* "card", "cvv", "expiry", "ssn", "iban", "email", "phone". */
const char *redact_kind_name(int kind);

/* 1 if the digits (ASCII, no separators) pass the Luhn check. */
int redact_luhn_ok(const char *digits, size_t n);

/* 1 if the n digits look like a payment card: Luhn-valid and in a known
 * issuer range for that length. */
int redact_card_ok(const char *digits, size_t n);

#endif

/* jschema.h - checks a JSON object against a table of field rules.
 *
 * Request bodies are validated here before anything touches the store:
 * unknown fields, wrong types, missing required fields, strings over their
 * limit, values outside an enum. Pure: no I/O, no allocation beyond what
 * the caller passes in. */
#ifndef JSCHEMA_H
#define JSCHEMA_H

#include <jansson.h>
#include <stddef.h>

typedef enum {
    JS_STRING,   /* JSON string, max_len bytes at most (0 = 4096) */
    JS_INT,      /* JSON integer within [min, max] */
    JS_NUMBER,   /* JSON number (integer or real) within [min, max] */
    JS_BOOL,     /* true or false */
    JS_ENUM,     /* JSON string, one of enum_values */
    JS_TAGS,     /* array of strings, at most max (64) items of max_len (64) */
    JS_MAP,      /* object of scalar values (custom fields), at most 64 keys */
    JS_OBJECT,   /* nested object checked against sub */
    JS_ARRAY,    /* array of objects, each checked against sub, at most max */
    JS_IDS,      /* array of positive integers (ids), at most max items */
    JS_DOCUMENT, /* any JSON object, checked by its own module (a workflow) */
    JS_ANY,      /* any JSON value, checked by its own module (an answer) */
} jschema_type;

#define JS_REQUIRED 1u /* must be present (ignored when checking a patch) */
#define JS_NULLABLE 2u /* null is accepted */

typedef struct jschema_field {
    const char *name;
    jschema_type type;
    unsigned flags;
    long long min, max;              /* JS_INT range; JS_TAGS/JS_ARRAY max items */
    size_t max_len;                  /* JS_STRING / JS_TAGS item byte limit */
    const char *const *enum_values;  /* JS_ENUM: NULL-terminated */
    const struct jschema_field *sub; /* JS_OBJECT / JS_ARRAY: NULL-terminated by name */
    const char *doc;                 /* one line for the OpenAPI document */
} jschema_field;

/* Checks obj against fields (terminated by an entry with name NULL).
 * patch != 0 means required fields may be absent (a partial update), but a
 * patch must change at least one field. On failure returns CD_EINVAL (or
 * CD_ETOOBIG for a string or list over its limit), points *field at the
 * offending field's name (static storage, or "" for the body itself) and
 * writes a message into msg. */
int jschema_check(const jschema_field *fields, json_t *obj, int patch, const char **field,
                  char *msg, size_t msglen);

/* Writes the fields as an OpenAPI/JSON Schema object (new reference). */
json_t *jschema_to_openapi(const jschema_field *fields, int patch);

#endif

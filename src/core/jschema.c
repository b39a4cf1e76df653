/* jschema.c - JSON body validation against field tables. */
#include "core/jschema.h"

#include "core/cd_err.h"
#include "core/redact.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_MAX_LEN 4096
#define DEFAULT_MAX_ITEMS 64
#define MAP_MAX_KEYS 64
#define MAP_KEY_MAX 64
#define MAP_VALUE_MAX 1024

static const jschema_field *find_field(const jschema_field *fields, const char *name)
{
    for (; fields->name; fields++)
        if (strcmp(fields->name, name) == 0)
            return fields;
    return NULL;
}

__attribute__((format(printf, 6, 7))) static int
fail(int err, const char **field, const char *name, char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;
    *field = name;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    return err;
}

static int check_string(const jschema_field *f, json_t *v, const char **field, char *msg,
                        size_t msglen)
{
    size_t limit = f->max_len ? f->max_len : DEFAULT_MAX_LEN;
    if (!json_is_string(v))
        return fail(CD_EINVAL, field, f->name, msg, msglen, "%s must be a string", f->name);
    if (json_string_length(v) > limit)
        return fail(CD_ETOOBIG, field, f->name, msg, msglen, "%s is too long", f->name);
    return 0;
}

static int check_enum(const jschema_field *f, json_t *v, const char **field, char *msg,
                      size_t msglen)
{
    if (!json_is_string(v))
        return fail(CD_EINVAL, field, f->name, msg, msglen, "%s must be a string", f->name);
    for (const char *const *e = f->enum_values; *e; e++)
        if (strcmp(*e, json_string_value(v)) == 0)
            return 0;
    return fail(CD_EINVAL, field, f->name, msg, msglen, "%s has a value that is not allowed",
                f->name);
}

static int check_tags(const jschema_field *f, json_t *v, const char **field, char *msg,
                      size_t msglen)
{
    size_t max_items = f->max ? (size_t)f->max : DEFAULT_MAX_ITEMS;
    size_t max_len = f->max_len ? f->max_len : 64;
    size_t i;
    json_t *item;
    if (!json_is_array(v))
        return fail(CD_EINVAL, field, f->name, msg, msglen, "%s must be an array of strings",
                    f->name);
    if (json_array_size(v) > max_items)
        return fail(CD_ETOOBIG, field, f->name, msg, msglen, "%s has too many items", f->name);
    json_array_foreach (v, i, item) {
        if (!json_is_string(item) || json_string_length(item) == 0)
            return fail(CD_EINVAL, field, f->name, msg, msglen, "%s must hold non-empty strings",
                        f->name);
        if (json_string_length(item) > max_len)
            return fail(CD_ETOOBIG, field, f->name, msg, msglen, "an item of %s is too long",
                        f->name);
    }
    return 0;
}

static int check_map(const jschema_field *f, json_t *v, const char **field, char *msg,
                     size_t msglen)
{
    const char *key;
    json_t *val;
    if (!json_is_object(v))
        return fail(CD_EINVAL, field, f->name, msg, msglen, "%s must be an object", f->name);
    if (json_object_size(v) > MAP_MAX_KEYS)
        return fail(CD_ETOOBIG, field, f->name, msg, msglen, "%s has too many keys", f->name);
    json_object_foreach (v, key, val) {
        if (strlen(key) == 0 || strlen(key) > MAP_KEY_MAX)
            return fail(CD_EINVAL, field, f->name, msg, msglen, "%s has a bad key", f->name);
        if (json_is_object(val) || json_is_array(val))
            return fail(CD_EINVAL, field, f->name, msg, msglen,
                        "%s values must be strings, numbers, booleans or null", f->name);
        if (json_is_string(val) && json_string_length(val) > MAP_VALUE_MAX)
            return fail(CD_ETOOBIG, field, f->name, msg, msglen, "a value of %s is too long",
                        f->name);
    }
    return 0;
}

static int check_value(const jschema_field *f, json_t *v, const char **field, char *msg,
                       size_t msglen)
{
    if (json_is_null(v)) {
        if (f->flags & JS_NULLABLE)
            return 0;
        return fail(CD_EINVAL, field, f->name, msg, msglen, "%s may not be null", f->name);
    }
    switch (f->type) {
    case JS_STRING:
        return check_string(f, v, field, msg, msglen);
    case JS_ENUM:
        return check_enum(f, v, field, msg, msglen);
    case JS_INT:
        if (!json_is_integer(v))
            return fail(CD_EINVAL, field, f->name, msg, msglen, "%s must be an integer", f->name);
        if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
            return fail(CD_EINVAL, field, f->name, msg, msglen, "%s is out of range", f->name);
        return 0;
    case JS_NUMBER:
        if (!json_is_number(v))
            return fail(CD_EINVAL, field, f->name, msg, msglen, "%s must be a number", f->name);
        if (json_number_value(v) < (double)f->min || json_number_value(v) > (double)f->max)
            return fail(CD_EINVAL, field, f->name, msg, msglen, "%s is out of range", f->name);
        return 0;
    case JS_BOOL:
        if (!json_is_boolean(v))
            return fail(CD_EINVAL, field, f->name, msg, msglen, "%s must be true or false",
                        f->name);
        return 0;
    case JS_TAGS:
        return check_tags(f, v, field, msg, msglen);
    case JS_MAP:
        return check_map(f, v, field, msg, msglen);
    case JS_IDS: {
        size_t i, max_items = f->max ? (size_t)f->max : DEFAULT_MAX_ITEMS;
        json_t *item;
        if (!json_is_array(v))
            return fail(CD_EINVAL, field, f->name, msg, msglen, "%s must be an array of ids",
                        f->name);
        if (json_array_size(v) > max_items)
            return fail(CD_ETOOBIG, field, f->name, msg, msglen, "%s has too many items", f->name);
        json_array_foreach (v, i, item)
            if (!json_is_integer(item) || json_integer_value(item) < 1)
                return fail(CD_EINVAL, field, f->name, msg, msglen,
                            "%s must hold positive integers", f->name);
        return 0;
    }
    case JS_OBJECT:
        if (!json_is_object(v))
            return fail(CD_EINVAL, field, f->name, msg, msglen, "%s must be an object", f->name);
        return jschema_check(f->sub, v, 0, field, msg, msglen);
    case JS_DOCUMENT:
        if (!json_is_object(v))
            return fail(CD_EINVAL, field, f->name, msg, msglen, "%s must be an object", f->name);
        return 0;
    case JS_ANY:
        return 0;
    case JS_ARRAY: {
        size_t i, max_items = f->max ? (size_t)f->max : DEFAULT_MAX_ITEMS;
        json_t *item;
        if (!json_is_array(v))
            return fail(CD_EINVAL, field, f->name, msg, msglen, "%s must be an array", f->name);
        if (json_array_size(v) > max_items)
            return fail(CD_ETOOBIG, field, f->name, msg, msglen, "%s has too many items", f->name);
        json_array_foreach (v, i, item) {
            if (!json_is_object(item))
                return fail(CD_EINVAL, field, f->name, msg, msglen, "%s must hold objects",
                            f->name);
            int rc = jschema_check(f->sub, item, 0, field, msg, msglen);
            if (rc)
                return rc;
        }
        return 0;
    }
    }
    return fail(CD_EINVAL, field, f->name, msg, msglen, "%s has an unknown type", f->name);
}

int jschema_check(const jschema_field *fields, json_t *obj, int patch, const char **field,
                  char *msg, size_t msglen)
{
    const char *key;
    json_t *val;
    const jschema_field *f;

    if (!json_is_object(obj))
        return fail(CD_EINVAL, field, "", msg, msglen, "%s", "the body must be a JSON object");
    json_object_foreach (obj, key, val) {
        f = find_field(fields, key);
        if (!f) { /* masked before it is cut: a cut card is no card */
            char name[256];
            snprintf(name, sizeof name, "%s", key);
            redact_buf(name, strlen(name), 0, NULL);
            return fail(CD_EINVAL, field, "", msg, msglen, "unknown field '%.64s'", name);
        }
        int rc = check_value(f, val, field, msg, msglen);
        if (rc)
            return rc;
    }
    if (patch) {
        if (json_object_size(obj) == 0)
            return fail(CD_EINVAL, field, "", msg, msglen, "%s", "nothing to change");
        return 0;
    }
    for (f = fields; f->name; f++)
        if ((f->flags & JS_REQUIRED) && !json_object_get(obj, f->name))
            return fail(CD_EINVAL, field, f->name, msg, msglen, "%s is required", f->name);
    return 0;
}

static json_t *field_schema(const jschema_field *f)
{
    json_t *s = json_object();
    switch (f->type) {
    case JS_STRING:
        json_object_set_new(s, "type", json_string("string"));
        json_object_set_new(s, "maxLength",
                            json_integer((json_int_t)(f->max_len ? f->max_len : DEFAULT_MAX_LEN)));
        break;
    case JS_INT:
        json_object_set_new(s, "type", json_string("integer"));
        json_object_set_new(s, "minimum", json_integer(f->min));
        json_object_set_new(s, "maximum", json_integer(f->max));
        break;
    case JS_NUMBER:
        json_object_set_new(s, "type", json_string("number"));
        json_object_set_new(s, "minimum", json_integer(f->min));
        json_object_set_new(s, "maximum", json_integer(f->max));
        break;
    case JS_BOOL:
        json_object_set_new(s, "type", json_string("boolean"));
        break;
    case JS_ENUM: {
        json_t *e = json_array();
        for (const char *const *v = f->enum_values; *v; v++)
            json_array_append_new(e, json_string(*v));
        json_object_set_new(s, "type", json_string("string"));
        json_object_set_new(s, "enum", e);
        break;
    }
    case JS_TAGS:
        json_object_set_new(s, "type", json_string("array"));
        json_object_set_new(s, "items", json_pack("{s:s}", "type", "string"));
        break;
    case JS_MAP:
        json_object_set_new(s, "type", json_string("object"));
        break;
    case JS_IDS:
        json_object_set_new(s, "type", json_string("array"));
        json_object_set_new(s, "items", json_pack("{s:s, s:i}", "type", "integer", "minimum", 1));
        break;
    case JS_DOCUMENT:
        json_object_set_new(s, "type", json_string("object"));
        break;
    case JS_ANY:
        break;
    case JS_OBJECT:
        json_decref(s);
        s = jschema_to_openapi(f->sub, 0);
        break;
    case JS_ARRAY:
        json_object_set_new(s, "type", json_string("array"));
        json_object_set_new(s, "items", jschema_to_openapi(f->sub, 0));
        break;
    }
    if (f->flags & JS_NULLABLE)
        json_object_set_new(s, "nullable", json_true());
    if (f->doc)
        json_object_set_new(s, "description", json_string(f->doc));
    return s;
}

json_t *jschema_to_openapi(const jschema_field *fields, int patch)
{
    json_t *props = json_object(), *req = json_array();
    for (const jschema_field *f = fields; f->name; f++) {
        json_object_set_new(props, f->name, field_schema(f));
        if (!patch && (f->flags & JS_REQUIRED))
            json_array_append_new(req, json_string(f->name));
    }
    json_t *s = json_pack("{s:s, s:o, s:b}", "type", "object", "properties", props,
                          "additionalProperties", 0);
    if (json_array_size(req))
        json_object_set_new(s, "required", req);
    else
        json_decref(req);
    return s;
}

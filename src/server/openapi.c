/* openapi.c - the OpenAPI 3 document, generated from the route table so it
 * cannot drift from what the server does. */
#include "server/routes.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static json_t *path_params(const char *pattern)
{
    json_t *list = json_array();
    for (const char *p = strchr(pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *end = strchr(p, '}');
        json_array_append_new(list, json_pack("{s:s%, s:s, s:b, s:{s:s, s:i}}", "name", p + 1,
                                              (size_t)(end - p - 1), "in", "path", "required", 1,
                                              "schema", "type", "integer", "minimum", 1));
    }
    return list;
}

static json_t *query_params(const jschema_field *q, json_t *list)
{
    if (!q)
        return list;
    json_t *schema = jschema_to_openapi(q, 1), *props = json_object_get(schema, "properties");
    for (; q && q->name; q++)
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:b, s:O}", "name", q->name, "in", "query",
                                        "required", 0, "schema", json_object_get(props, q->name)));
    json_decref(schema);
    return list;
}

static json_t *operation(const route *rt)
{
    char status[8];
    json_t *op = json_pack("{s:s, s:o}", "summary", rt->summary, "parameters",
                           query_params(rt->query, path_params(rt->pattern)));
    snprintf(status, sizeof status, "%d", rt->ok_status);
    json_object_set_new(op, "responses",
                        json_pack("{s:{s:s}, s:{s:s, s:{s:{s:{s:s}}}}}", status, "description",
                                  "success", "4XX", "description", "error", "content",
                                  "application/json", "schema", "$ref",
                                  "#/components/schemas/Error"));
    if (rt->state_status) {
        char alt[8];
        snprintf(alt, sizeof alt, "%d", rt->state_status);
        json_object_set_new(json_object_get(op, "responses"), alt,
                            json_pack("{s:s}", "description", rt->state_doc));
    }
    if (rt->body) {
        json_t *content = json_pack("{s:{s:o}}", "application/json", "schema",
                                    jschema_to_openapi(rt->body, rt->patch));
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:o}", "required", 1, "content", content));
    }
    if (rt->flags & R_PUBLIC)
        json_object_set_new(op, "security", json_array());
    if (rt->action)
        json_object_set_new(op, "x-permission", json_string(rt->action));
    if (rt->sample)
        json_object_set_new(op, "x-sample", json_string(rt->sample));
    return op;
}

json_t *routes_openapi(void)
{
    json_t *paths = json_object();
    for (size_t i = 0; i < routes_count; i++) {
        char method[8];
        size_t k;
        json_t *item = json_object_get(paths, routes[i].pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, routes[i].pattern, item);
        }
        for (k = 0; k < sizeof method - 1 && routes[i].method[k]; k++)
            method[k] = (char)tolower((unsigned char)routes[i].method[k]);
        method[k] = '\0';
        json_object_set_new(item, method, operation(&routes[i]));
    }
    return json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:{s:{s:s, s:{s:{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}}}}}},"
        " s:{s:{s:s, s:s}, s:{s:s, s:s, s:s}}}, s:[{s:[]}, {s:[]}]}",
        "openapi", "3.0.3", "info", "title", "caredesk API", "version", "1", "description",
        "Customer care operations for many clients. Times are UTC epoch ms.", "paths", paths,
        "components", "schemas", "Error", "type", "object", "properties", "error", "type", "object",
        "properties", "code", "type", "string", "message", "type", "string", "field", "type",
        "string", "securitySchemes", "bearer", "type", "http", "scheme", "bearer", "cookie", "type",
        "apiKey", "in", "cookie", "name", "cd_session", "security", "bearer", "cookie");
}

/* test_core.c - the pure modules in src/core: lifecycle, jschema,
 * audit_chain, cd_mem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/audit_chain.h"
#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/jschema.h"
#include "core/lifecycle.h"

#include <sodium.h>
#include <string.h>

static void test_lifecycle(void **state)
{
    (void)state;
    assert_true(lifecycle_can_transition("new", "open"));
    assert_true(lifecycle_can_transition("open", "resolved"));
    assert_true(lifecycle_can_transition("resolved", "open"));
    assert_true(lifecycle_can_transition("resolved", "closed"));
    assert_false(lifecycle_can_transition("closed", "open"));
    assert_false(lifecycle_can_transition("open", "new"));
    assert_false(lifecycle_can_transition("open", "closed"));
    assert_false(lifecycle_can_transition("resolved", "pending"));
    assert_false(lifecycle_can_transition("open", "bogus"));
    assert_false(lifecycle_can_transition(NULL, "open"));
    assert_true(lifecycle_status_valid("on_hold"));
    assert_false(lifecycle_status_valid("On_Hold"));
    /* Every status may stay where it is; closed is final. */
    for (int i = 0; lifecycle_statuses[i]; i++) {
        assert_true(lifecycle_can_transition(lifecycle_statuses[i], lifecycle_statuses[i]));
        if (strcmp(lifecycle_statuses[i], "closed") != 0)
            assert_true(lifecycle_can_transition(lifecycle_statuses[i], "resolved") ||
                        strcmp(lifecycle_statuses[i], "resolved") == 0);
    }
}

static const char *const colours[] = {"red", "green", NULL};
static const jschema_field inner[] = {{"n", JS_INT, JS_REQUIRED, 1, 5, 0, NULL, NULL, NULL}, {0}};
static const jschema_field fields[] = {
    {"name", JS_STRING, JS_REQUIRED, 0, 0, 8, NULL, NULL, NULL},
    {"age", JS_INT, 0, 0, 150, 0, NULL, NULL, NULL},
    {"colour", JS_ENUM, JS_NULLABLE, 0, 0, 0, colours, NULL, NULL},
    {"tags", JS_TAGS, 0, 0, 2, 4, NULL, NULL, NULL},
    {"extra", JS_MAP, 0, 0, 0, 0, NULL, NULL, NULL},
    {"ids", JS_IDS, 0, 0, 3, 0, NULL, NULL, NULL},
    {"sub", JS_OBJECT, 0, 0, 0, 0, NULL, inner, NULL},
    {"list", JS_ARRAY, 0, 0, 2, 0, NULL, inner, NULL},
    {0}};

static int check(const char *text, int patch, const char **field)
{
    char msg[128];
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    int rc = jschema_check(fields, v, patch, field, msg, sizeof msg);
    if (rc)
        assert_true(strlen(msg) > 0);
    json_decref(v);
    return rc;
}

static void test_jschema(void **state)
{
    const char *f = NULL;
    (void)state;
    assert_int_equal(check("{\"name\":\"ok\"}", 0, &f), 0);
    assert_int_equal(check("{\"name\":\"ok\",\"age\":3,\"colour\":null,\"tags\":[\"a\"],"
                           "\"extra\":{\"k\":1},\"ids\":[1,2],\"sub\":{\"n\":2},"
                           "\"list\":[{\"n\":1}]}",
                           0, &f),
                     0);
    assert_int_equal(check("{}", 0, &f), CD_EINVAL);
    assert_string_equal(f, "name");
    assert_int_equal(check("{}", 1, &f), CD_EINVAL); /* empty patch */
    assert_int_equal(check("{\"age\":4}", 1, &f), 0);
    assert_int_equal(check("[]", 0, &f), CD_EINVAL);
    assert_int_equal(check("{\"name\":\"ok\",\"zzz\":1}", 0, &f), CD_EINVAL);
    assert_int_equal(check("{\"name\":1}", 0, &f), CD_EINVAL);
    assert_string_equal(f, "name");
    assert_int_equal(check("{\"name\":\"123456789\"}", 0, &f), CD_ETOOBIG);
    assert_int_equal(check("{\"name\":\"a\",\"age\":151}", 0, &f), CD_EINVAL);
    assert_int_equal(check("{\"name\":\"a\",\"age\":1.5}", 0, &f), CD_EINVAL);
    assert_int_equal(check("{\"name\":\"a\",\"colour\":\"blue\"}", 0, &f), CD_EINVAL);
    assert_int_equal(check("{\"name\":\"a\",\"tags\":[\"a\",\"b\",\"c\"]}", 0, &f), CD_ETOOBIG);
    assert_int_equal(check("{\"name\":\"a\",\"tags\":[\"\"]}", 0, &f), CD_EINVAL);
    assert_int_equal(check("{\"name\":\"a\",\"extra\":{\"k\":[1]}}", 0, &f), CD_EINVAL);
    assert_int_equal(check("{\"name\":\"a\",\"ids\":[0]}", 0, &f), CD_EINVAL);
    assert_int_equal(check("{\"name\":\"a\",\"sub\":{\"n\":9}}", 0, &f), CD_EINVAL);
    assert_string_equal(f, "n");
    assert_int_equal(check("{\"name\":\"a\",\"list\":[{\"n\":1},{\"n\":1},{\"n\":1}]}", 0, &f),
                     CD_ETOOBIG);
    assert_int_equal(check("{\"name\":null}", 0, &f), CD_EINVAL);

    json_t *doc = jschema_to_openapi(fields, 0);
    assert_non_null(json_object_get(json_object_get(doc, "properties"), "colour"));
    assert_int_equal(json_array_size(json_object_get(doc, "required")), 1);
    json_decref(doc);
}

static void test_audit_chain(void **state)
{
    char h1[AUDIT_HASH_HEX], h2[AUDIT_HASH_HEX], h3[AUDIT_HASH_HEX];
    audit_entry e = {.seq = 1,
                     .at = 1000,
                     .actor_id = 7,
                     .entity_id = 3,
                     .client_id = 2,
                     .action = "update",
                     .entity = "interaction",
                     .detail = "{}"};
    (void)state;
    assert_int_equal(sodium_init() >= 0, 1);
    audit_chain_hash(audit_chain_genesis, &e, h1);
    audit_chain_hash(audit_chain_genesis, &e, h2);
    assert_string_equal(h1, h2);
    assert_int_equal(strlen(h1), 64);
    e.actor_id = 8; /* any field changes the hash */
    audit_chain_hash(audit_chain_genesis, &e, h3);
    assert_string_not_equal(h1, h3);
    e.actor_id = 7;
    audit_chain_hash(h1, &e, h3); /* and so does the previous link */
    assert_string_not_equal(h1, h3);
}

static void test_mem_failure_injection(void **state)
{
    (void)state;
    unsigned long before = cd_mem_count();
    void *p = cd_malloc(10);
    assert_non_null(p);
    assert_true(cd_mem_count() > before);
    cd_free(p);
    cd_mem_fail_after(1);
    assert_null(cd_malloc(10));
    assert_null(cd_strdup("x"));
    cd_mem_fail_after(0);
    p = cd_strdup("back");
    assert_string_equal(p, "back");
    cd_free(p);
    assert_string_equal(cd_strerror(CD_ENOTFOUND), "not_found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_jschema),
        cmocka_unit_test(test_audit_chain),
        cmocka_unit_test(test_mem_failure_injection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

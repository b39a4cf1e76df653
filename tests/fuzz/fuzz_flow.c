/* fuzz_flow.c - libFuzzer target for the workflow parsers: the JSON
 * document loader and lint, and the expression language. Any input must
 * come back as a result or a clean error: no crash, leak or hang. */
#include "core/cd_mem.h"
#include "core/flow.h"
#include "core/flow_expr.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    flow_diags d;
    flow_expr *e = NULL;
    flow_expr_error err;

    flow_diags_init(&d);
    flow_lint_text((const char *)data, size, &d);
    flow_diags_cleanup(&d);
    if (flow_expr_parse((const char *)data, size, &e, &err) == 0)
        flow_expr_destroy(e);
    return 0;
}

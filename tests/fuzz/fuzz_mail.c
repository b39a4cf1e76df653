/* fuzz_mail.c - libFuzzer target for the mail ingest parser: any bytes
 * must come back as a message (degraded if need be): no crash, leak or
 * hang; quote splitting, HTML to text and masking inside encoded parts on
 * the same bytes. */
#include "core/cd_mem.h"
#include "core/mail.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mail_msg *m = NULL;
    if (mail_parse((const char *)data, size, &m) == 0) {
        if (!m->text || !m->subject || !m->quoted || !m->from.addr)
            abort();
        mail_free(m);
    } else if (size) {
        abort(); /* only empty input may fail (memory is not short here) */
    }
    char *html = mail_html_to_text((const char *)data, size);
    cd_free(html);
    char *text = cd_strndup((const char *)data, size), *f = NULL, *q = NULL;
    if (text && mail_split_quote(text, &f, &q) == 0) {
        cd_free(f);
        cd_free(q);
    }
    cd_free(text);
    char *masked = NULL;
    size_t n = 0;
    if (mail_redact_encoded((const char *)data, size, 0, &masked, &n) == 0 && masked && !n)
        abort(); /* a copy is never empty */
    cd_free(masked);
    return 0;
}

/* test_mail.c - src/core/mail: a corpus of real-world messages (the test
 * data of Python's email package, shipped by Debian's
 * libpython3.11-testsuite, and tests/mail/corpus) each parses or degrades
 * gracefully; a table of expected subject, text, attachments and thread
 * headers for a chosen set; HTML to text, quote splitting, subject tokens;
 * hostile input; masking card numbers inside encoded parts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/mail.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PY_CORPUS "/usr/lib/python3.11/test/test_email/data"

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)len + 1);
    *n = fread(p, 1, (size_t)len, f);
    p[*n] = '\0';
    fclose(f);
    return p;
}

static mail_msg *parse_file(const char *name)
{
    char path[1024];
    size_t n;
    snprintf(path, sizeof path, "%s/tests/mail/corpus/%s", getenv("CAREDESK_SRC"), name);
    char *raw = slurp(path, &n);
    assert_non_null(raw);
    mail_msg *m = NULL;
    assert_int_equal(mail_parse(raw, n, &m), 0);
    free(raw);
    return m;
}

/* Every message of a directory parses, with valid UTF-8 everywhere. */
static int parse_dir(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int count = 0;
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (l < sl || strcmp(e->d_name + l - sl, suffix) != 0)
            continue;
        char path[1024];
        size_t n;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *raw = slurp(path, &n);
        assert_non_null(raw);
        mail_msg *m = NULL;
        int rc = mail_parse(raw, n, &m);
        if (rc)
            fail_msg("%s: %d", e->d_name, rc);
        assert_non_null(m->text);
        assert_non_null(m->subject);
        for (size_t i = 0; i < m->nattachments; i++)
            assert_non_null(m->attachments[i].data);
        mail_free(m);
        free(raw);
        count++;
    }
    closedir(d);
    return count;
}

static void test_corpus_all_parse(void **state)
{
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/mail/corpus", getenv("CAREDESK_SRC"));
    assert_true(parse_dir(dir, ".eml") >= 15);
    int py = parse_dir(PY_CORPUS, ".txt");
    if (py < 0)
        fail_msg("the corpus of %s is missing: install libpython3.11-testsuite "
                 "(scripts/install-deps.sh)",
                 PY_CORPUS);
    assert_true(py >= 45);
}

/* The chosen set: what each must read as. */
static const struct expect {
    const char *file, *from, *subject, *text_start, *quoted_start, *message_id, *in_reply_to;
    size_t nrefs, natt;
    int automatic, bounce, html, degraded;
} table[] = {
    {"gmail_reply.eml", "maria.lopez@example.org", "Re: [ACME-7] Meter reading",
     "Thanks, the reading is 04512. Se\xc3\xb1or Ruiz", "On Mon, Nov 2, 2026",
     "CAF1+xyz123@mail.gmail.com", "cd.7.12.d4e5f6@mail.acme.test", 2, 0, 0, 0, 0, 0},
    {"outlook_html.eml", "john.smith@contoso.example", "Refund \xe2\x80\x93 invoice 88",
     "Hello,\n\nPlease refund invoice 88", "-----Original Message-----",
     "DB7PR01MB1234@DB7PR01MB.eurprd01.prod.outlook.com", "", 0, 0, 0, 0, 1, 0},
    {"outlook_plain_reply.eml", "sam@example.com", "RE: [ACME-12] Outage",
     "Power is back, thank you.", "From: ACME Support", "plainreply.1@example.com", "", 1, 0, 0, 0,
     0, 0},
    {"latin1.eml", "andre@example.fr", "Probl\xc3\xa8me de facture",
     "Bonjour, ma facture est trop \xc3\xa9lev\xc3\xa9"
     "e.",
     "", "20261104.latin1@example.fr", "", 0, 0, 0, 0, 0, 0},
    {"iso2022jp.eml", "yamada@example.jp",
     "\xe3\x81\x8a\xe5\x95\x8f\xe3\x81\x84\xe5\x90\x88\xe3\x82\x8f\xe3\x81\x9b",
     "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf", "", "jp.1@example.jp", "", 0,
     0, 0, 0, 0, 0},
    {"attachments.eml", "ola@example.no", "Invoice attached", "Here is the invoice", "",
     "att.1@example.no", "", 0, 2, 0, 0, 0, 0},
    {"autoreply.eml", "kim@example.com", "Out of office: [ACME-3] Your request",
     "I am out of the office", "", "ooo.1@example.com", "cd.3.5.abcdef@mail.acme.test", 0, 0, 1, 0,
     0, 0},
    {"list.eml", "news@shop.example", "Weekly deals", "Big savings", "", "deal.1@shop.example", "",
     0, 0, 1, 0, 0, 0},
    {"dsn_ours.eml", "mailer-daemon@mx.example.net", "Undelivered Mail Returned to Sender",
     "This is the mail system", "", "20261105.dsn.1@mx.example.net", "", 0, 0, 1, 1, 0, 0},
    {"broken_boundary.eml", "a@example.com", "cut off", "The text survives", "",
     "cut.1@example.com", "", 0, 1, 0, 0, 0, 1},
    {"no_boundary.eml", "b@example.com", "no boundary", "Please call me back.", "",
     "nb.1@example.com", "", 0, 0, 0, 0, 0, 1},
    {"unknown_charset.eml", "d@example.com", "odd charset", "Caf\xc3\xa9 au lait", "",
     "cs.1@example.com", "", 0, 0, 0, 0, 0, 1},
    {"bad_base64.eml", "c@example.com", "bad base64", "Hello wor", "", "b64.1@example.com", "", 0,
     0, 0, 0, 0, 0},
    {"no_headers.eml", "", "", "Just some words without any header at all.", "", "", "", 0, 0, 1, 0,
     0, 1},
    {"headers_only.eml", "e@example.com", "only headers", "", "", "ho.1@example.com", "", 0, 0, 0,
     0, 0, 1},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        const struct expect *x = &table[i];
        mail_msg *m = parse_file(x->file);
        print_message("%s\n", x->file);
        assert_string_equal(m->from.addr, x->from);
        assert_string_equal(m->subject, x->subject);
        assert_true(strncmp(m->text, x->text_start, strlen(x->text_start)) == 0);
        if (!*x->text_start)
            assert_string_equal(m->text, "");
        assert_true(strncmp(m->quoted, x->quoted_start, strlen(x->quoted_start)) == 0);
        if (!*x->quoted_start)
            assert_string_equal(m->quoted, "");
        assert_string_equal(m->message_id, x->message_id);
        assert_string_equal(m->in_reply_to, x->in_reply_to);
        assert_int_equal(m->nreferences, x->nrefs);
        assert_int_equal(m->nattachments, x->natt);
        assert_int_equal(m->is_automatic, x->automatic);
        assert_int_equal(m->is_bounce, x->bounce);
        assert_int_equal(m->from_html, x->html);
        assert_int_equal(m->degraded, x->degraded);
        mail_free(m);
    }
}

static void test_details(void **state)
{
    (void)state;
    mail_msg *m = parse_file("gmail_reply.eml");
    assert_string_equal(m->from.name, "Mar\xc3\xad"
                                      "a L\xc3\xb3pez");
    assert_string_equal(m->references[0], "cd.7.11.a1b2c3@mail.acme.test");
    assert_string_equal(m->references[1], "cd.7.12.d4e5f6@mail.acme.test");
    assert_int_equal(m->nto, 1);
    assert_string_equal(m->to[0].addr, "support@acme.test");
    assert_true(strstr(m->quoted, "> could you send us the meter reading?") != NULL);
    assert_true(m->date_ms > 0);
    mail_free(m);

    m = parse_file("attachments.eml");
    assert_string_equal(m->attachments[0].filename, "meter.png");
    assert_string_equal(m->attachments[0].content_type, "image/png");
    assert_int_equal(m->attachments[0].is_inline, 1);
    assert_int_equal(m->attachments[0].size, 72);
    assert_string_equal(m->attachments[1].filename, "faktura \xc3\xb8.pdf");
    assert_string_equal(m->attachments[1].content_type, "application/pdf");
    assert_int_equal(m->attachments[1].size, 9 + 256 * 8);
    assert_memory_equal(m->attachments[1].data, "%PDF-1.4\n", 9);
    mail_free(m);

    m = parse_file("dsn_ours.eml");
    assert_string_equal(m->bounce_message_id, "cd.9.31.f00dfeed@mail.acme.test");
    assert_string_equal(m->bounce_status, "5.1.1");
    assert_true(strstr(m->bounce_reason, "Recipient address rejected") != NULL);
    assert_int_equal(m->from_daemon, 1);
    mail_free(m);

    m = parse_file("outlook_html.eml");
    assert_true(strstr(m->text, "the invoice <https://contoso.example/inv/88>") != NULL);
    assert_true(strstr(m->text, "thanks & regards") != NULL);
    assert_null(strstr(m->text, "color: red"));
    mail_free(m);
}

static void test_python_bounces(void **state)
{
    (void)state;
    size_t n;
    char *raw = slurp(PY_CORPUS "/msg_16.txt", &n);
    if (!raw)
        skip();
    mail_msg *m = NULL;
    assert_int_equal(mail_parse(raw, n, &m), 0);
    assert_int_equal(m->is_bounce, 1);
    assert_string_equal(m->bounce_message_id, "002001c144a6$8752e060$56104586@oxy.edu");
    assert_string_equal(m->bounce_status, "5.0.0");
    mail_free(m);
    free(raw);
}

static void test_html(void **state)
{
    (void)state;
    const char *h = "<p>One&nbsp;&lt;two&gt;</p><script>alert(1)</script><ul><li>a</li>"
                    "<li>b &#233; &#x263A;</li></ul><!-- hidden --><br><br><br><br>end &bogus; &";
    char *t = mail_html_to_text(h, strlen(h));
    assert_string_equal(t, "One <two>\n\na\n\nb \xc3\xa9 \xe2\x98\xba\n\nend &bogus; &");
    cd_free(t);
    t = mail_html_to_text("<a href='x", 10);
    cd_free(t);
    t = mail_html_to_text("<scr", 4);
    assert_string_equal(t, "");
    cd_free(t);
}

static void test_quote_split(void **state)
{
    (void)state;
    char *f, *q;
    assert_int_equal(mail_split_quote("new\n\n> old\n>> older\n\n", &f, &q), 0);
    assert_string_equal(f, "new");
    assert_string_equal(q, "> old\n>> older");
    cd_free(f);
    cd_free(q);
    /* Interleaved answers stay in the new text. */
    assert_int_equal(mail_split_quote("> q1\nanswer1\n> q2\nanswer2", &f, &q), 0);
    assert_string_equal(f, "> q1\nanswer1\n> q2\nanswer2");
    assert_string_equal(q, "");
    cd_free(f);
    cd_free(q);
    assert_int_equal(
        mail_split_quote("ok\r\nOn Tue, 3 Nov 2026, Ann <a@b.c>\r\nwrote:\r\n> x", &f, &q), 0);
    assert_string_equal(f, "ok");
    cd_free(f);
    cd_free(q);
}

static void test_subject_token(void **state)
{
    (void)state;
    char p[17];
    int64_t n = 0;
    assert_int_equal(mail_subject_token("Re: Fwd: [ACME-1234] x", p, sizeof p, &n), 0);
    assert_string_equal(p, "ACME");
    assert_int_equal(n, 1234);
    assert_int_equal(mail_subject_token("[list] [NW-7]", p, sizeof p, &n), 0);
    assert_string_equal(p, "NW");
    assert_int_equal(n, 7);
    assert_int_equal(mail_subject_token("[ACME-12x] [-3] [ACME-]", p, sizeof p, &n), CD_ENOTFOUND);
    assert_int_equal(mail_subject_token(NULL, p, sizeof p, &n), CD_ENOTFOUND);
    assert_int_equal(mail_is_daemon("MAILER-DAEMON@x.org"), 1);
    assert_int_equal(mail_is_daemon("postmaster@x.org"), 1);
    assert_int_equal(mail_is_daemon("post@x.org"), 0);
}

static void test_hostile(void **state)
{
    (void)state;
    mail_msg *m = NULL;
    assert_int_equal(mail_parse("", 0, &m), CD_EINVAL);
    /* Deep nesting, a NUL in the text, a huge header line. */
    size_t cap = 1 << 20, n = 0;
    char *raw = malloc(cap);
    n += (size_t)sprintf(raw + n, "From: x@y.z\nSubject: deep\nMIME-Version: 1.0\n");
    for (int i = 0; i < 200; i++)
        n += (size_t)sprintf(raw + n, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n",
                             i, i);
    n += (size_t)sprintf(raw + n, "Content-Type: text/plain\n\nbottom\n");
    assert_int_equal(mail_parse(raw, n, &m), 0);
    assert_int_equal(m->degraded, 1);
    mail_free(m);
    n = (size_t)sprintf(raw, "Subject: ");
    memset(raw + n, 'a', 500000);
    n += 500000;
    memcpy(raw + n, "\n\nhello\0world", 13);
    n += 13;
    assert_int_equal(mail_parse(raw, n, &m), 0);
    assert_int_equal(strlen(m->subject), 500000);
    assert_true(strncmp(m->text, "hello", 5) == 0);
    mail_free(m);
    free(raw);
}

/* Every allocation failure comes back as CD_ENOMEM, never a crash or leak. */
static void test_alloc_failures(void **state)
{
    (void)state;
    char path[1024];
    size_t n;
    snprintf(path, sizeof path, "%s/tests/mail/corpus/attachments.eml", getenv("CAREDESK_SRC"));
    char *raw = slurp(path, &n);
    for (unsigned long k = 1; k < 400; k++) {
        mail_msg *m = NULL;
        cd_mem_fail_after(k);
        int rc = mail_parse(raw, n, &m);
        cd_mem_fail_after(0);
        if (rc == 0) {
            mail_free(m);
            break;
        }
        assert_int_equal(rc, CD_ENOMEM);
    }
    free(raw);
}

/* Masks inside encoded parts: what a byte scan of the raw message misses. */
static mail_msg *masked_copy(const char *raw, int want_copy)
{
    char *out = NULL;
    size_t n = 0;
    mail_msg *m = NULL;
    assert_int_equal(mail_redact_encoded(raw, strlen(raw), 0, &out, &n), 0);
    if (!want_copy) {
        assert_null(out);
        return NULL;
    }
    assert_non_null(out);
    assert_int_equal(strlen(out), n);
    assert_int_equal(mail_parse(out, n, &m), 0);
    cd_free(out);
    return m;
}

static void test_redact_encoded(void **state)
{
    (void)state;
    /* base64 body: "Pay with 4111 1111 1111 1111 please\n" */
    mail_msg *m = masked_copy("From: a@b.c\nSubject: b64\nMIME-Version: 1.0\n"
                              "Content-Type: text/plain; charset=utf-8\n"
                              "Content-Transfer-Encoding: base64\n\n"
                              "UGF5IHdpdGggNDExMSAxMTExIDExMTEgMTExMSBwbGVhc2UK\n",
                              1);
    assert_string_equal(m->text, "Pay with **** **** **** 1111 please");
    mail_free(m);
    /* quoted-printable, the number split by a soft line break */
    m = masked_copy("From: a@b.c\nSubject: qp\nMIME-Version: 1.0\n"
                    "Content-Type: text/plain; charset=utf-8\n"
                    "Content-Transfer-Encoding: quoted-printable\n\n"
                    "Card 4111 1111 11=\n11 1111 thanks\n",
                    1);
    assert_non_null(strstr(m->text, "**** **** **** 1111"));
    assert_null(strstr(m->text, "4111"));
    mail_free(m);
    /* a base64 text attachment, and a forwarded message's base64 body; an
     * image with the same bytes is left alone */
    const char *fwd =
        "From: a@b.c\nSubject: files\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nSee files.\n"
        "--B\nContent-Type: text/csv\nContent-Disposition: attachment; filename=cards.csv\n"
        "Content-Transfer-Encoding: base64\n\nbmFtZSxjYXJkCmFubiw0MTExMTExMTExMTExMTExCg==\n"
        "--B\nContent-Type: image/png\nContent-Disposition: attachment; filename=x.png\n"
        "Content-Transfer-Encoding: base64\n\nbmFtZSxjYXJkCmFubiw0MTExMTExMTExMTExMTExCg==\n"
        "--B\nContent-Type: message/rfc822\n\nFrom: c@d.e\nSubject: inner\nMIME-Version: 1.0\n"
        "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
        "UGF5IHdpdGggNDExMSAxMTExIDExMTEgMTExMSBwbGVhc2UK\n--B--\n";
    char *out = NULL;
    size_t n = 0;
    assert_int_equal(mail_redact_encoded(fwd, strlen(fwd), 0, &out, &n), 0);
    assert_non_null(out);
    assert_int_equal(mail_parse(out, n, &m), 0);
    int csv = 0, png = 0;
    for (size_t i = 0; i < m->nattachments; i++) {
        const mail_attachment *a = &m->attachments[i];
        char *text = cd_strndup((const char *)a->data, a->size);
        if (strcmp(a->filename, "cards.csv") == 0) {
            csv = 1;
            assert_string_equal(text, "name,card\nann,************1111\n");
        } else if (strcmp(a->filename, "x.png") == 0) {
            png = 1;
            assert_string_equal(text, "name,card\nann,4111111111111111\n");
        }
        cd_free(text);
    }
    assert_true(csv && png);
    mail_free(m);
    /* the forwarded message inside, parsed from the copy */
    const char *inner = strstr(out, "Subject: inner");
    assert_non_null(inner);
    assert_null(strstr(out, "UGF5IHdpdGggNDExMSAxMTExIDExMTEgMTExMSBwbGVhc2UK"));
    cd_free(out);
    /* nothing encoded to mask: no copy (the caller masks the bytes) */
    masked_copy("From: a@b.c\nSubject: plain\n\nPay with 4111 1111 1111 1111\n", 0);
    masked_copy("From: a@b.c\nSubject: b64\nMIME-Version: 1.0\nContent-Type: text/plain\n"
                "Content-Transfer-Encoding: base64\n\naGVsbG8gdGhlcmUK\n",
                0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_all_parse),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_details),
        cmocka_unit_test(test_python_bounces),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_quote_split),
        cmocka_unit_test(test_subject_token),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_redact_encoded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

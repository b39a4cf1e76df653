/* mail.c - see mail.h. */
#include "core/mail.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/redact.h"

#include <ctype.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH 12        /* nested multiparts and attached messages */
#define MAX_ATTACHMENTS 256 /* more are left out (degraded) */

/* --- small strings ------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
    int failed;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = cd_realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_addc(buf *b, char c)
{
    buf_add(b, &c, 1);
}

/* The buffer's string (never NULL unless out of memory); b is reset. */
static char *buf_take(buf *b)
{
    char *p = b->failed ? NULL : b->p ? b->p : cd_strdup("");
    if (b->failed)
        cd_free(b->p);
    memset(b, 0, sizeof *b);
    return p;
}

/* A valid UTF-8 copy of s[0..n): invalid bytes become U+FFFD, NULs are
 * dropped. */
static char *utf8_copy(const char *s, size_t n)
{
    buf b = {0};
    const char *end = s + n;
    while (s < end) {
        const char *bad = NULL;
        size_t left = (size_t)(end - s);
        if (g_utf8_validate(s, (gssize)left, &bad)) {
            bad = end;
        }
        const char *stop = bad;
        const char *nul = memchr(s, '\0', (size_t)(stop - s));
        if (nul)
            stop = nul;
        buf_add(&b, s, (size_t)(stop - s));
        if (stop == end)
            break;
        if (*stop != '\0')
            buf_add(&b, "\xef\xbf\xbd", 3);
        s = stop + 1;
    }
    return buf_take(&b);
}

static char *dup_or_empty(const char *s)
{
    return s ? utf8_copy(s, strlen(s)) : cd_strdup("");
}

static char *trim_copy(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return cd_strndup(s, n);
}

static void lower(char *s)
{
    for (; s && *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

int mail_is_daemon(const char *addr)
{
    if (!addr || !*addr)
        return 1;
    size_t n = strcspn(addr, "@");
    return (n == 13 && strncasecmp(addr, "mailer-daemon", 13) == 0) ||
           (n == 10 && strncasecmp(addr, "postmaster", 10) == 0);
}

/* --- HTML to text -------------------------------------------------------- */

static const struct {
    const char *name;
    const char *text;
} entities[] = {
    {"amp", "&"},
    {"lt", "<"},
    {"gt", ">"},
    {"quot", "\""},
    {"apos", "'"},
    {"nbsp", " "},
    {"copy", "\xc2\xa9"},
    {"reg", "\xc2\xae"},
    {"euro", "\xe2\x82\xac"},
    {"ndash", "\xe2\x80\x93"},
    {"mdash", "\xe2\x80\x94"},
    {"hellip", "\xe2\x80\xa6"},
    {"rsquo", "\xe2\x80\x99"},
    {"lsquo", "\xe2\x80\x98"},
    {"rdquo", "\xe2\x80\x9d"},
    {"ldquo", "\xe2\x80\x9c"},
    {"bull", "\xe2\x80\xa2"},
};

static void add_codepoint(buf *b, unsigned long cp)
{
    char tmp[8];
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    int n = g_unichar_to_utf8((gunichar)cp, tmp);
    buf_add(b, tmp, (size_t)n);
}

/* Decodes the entity at s (after '&'); returns the bytes used, 0 if none. */
static size_t entity(buf *b, const char *s, const char *end)
{
    const char *semi = memchr(s, ';', (size_t)(end - s) < 12 ? (size_t)(end - s) : 12);
    if (!semi || semi == s)
        return 0;
    size_t n = (size_t)(semi - s);
    if (*s == '#') {
        char tmp[12];
        if (n < 2 || n > 10)
            return 0;
        memcpy(tmp, s + 1, n - 1);
        tmp[n - 1] = '\0';
        char *e;
        unsigned long cp =
            (tmp[0] == 'x' || tmp[0] == 'X') ? strtoul(tmp + 1, &e, 16) : strtoul(tmp, &e, 10);
        if (*e)
            return 0;
        add_codepoint(b, cp);
        return n + 1;
    }
    for (size_t i = 0; i < sizeof entities / sizeof *entities; i++)
        if (strlen(entities[i].name) == n && strncmp(entities[i].name, s, n) == 0) {
            buf_add(b, entities[i].text, strlen(entities[i].text));
            return n + 1;
        }
    return 0;
}

static int tag_is(const char *name, size_t n, const char *const *set)
{
    for (; *set; set++)
        if (strlen(*set) == n && strncasecmp(*set, name, n) == 0)
            return 1;
    return 0;
}

/* The value of attribute attr in the tag text t[0..n), copied into out. */
static int tag_attr(const char *t, size_t n, const char *attr, char *out, size_t cap)
{
    size_t al = strlen(attr);
    for (size_t i = 0; i + al + 1 < n; i++) {
        if (strncasecmp(t + i, attr, al) != 0 || t[i + al] != '=' ||
            (i && !isspace((unsigned char)t[i - 1])))
            continue;
        const char *v = t + i + al + 1, *end = t + n;
        char q = (*v == '"' || *v == '\'') ? *v++ : 0;
        size_t k = 0;
        while (v < end && k + 1 < cap && (q ? *v != q : !isspace((unsigned char)*v) && *v != '>'))
            out[k++] = *v++;
        out[k] = '\0';
        return k > 0;
    }
    return 0;
}

char *mail_html_to_text(const char *html, size_t len)
{
    static const char *const blocks[] = {"p",     "div", "br", "tr", "li",  "h1",
                                         "h2",    "h3",  "h4", "h5", "h6",  "blockquote",
                                         "table", "ul",  "ol", "hr", "pre", NULL};
    static const char *const skip[] = {"script", "style", "head", "title", NULL};
    buf b = {0};
    const char *s = html, *end = html + len;
    char href[512] = "";
    int space = 1; /* last output was whitespace */
    while (s < end) {
        if (*s == '<') {
            const char *close = memchr(s, '>', (size_t)(end - s));
            if (!close)
                break;
            if (end - s >= 4 && strncmp(s, "<!--", 4) == 0) {
                const char *c = s + 4;
                while (c + 3 <= end && strncmp(c, "-->", 3) != 0)
                    c++;
                s = c + 3 <= end ? c + 3 : end;
                continue;
            }
            const char *name = s + 1;
            int closing = *name == '/';
            if (closing)
                name++;
            size_t n = 0;
            while (name + n < close && (isalnum((unsigned char)name[n])))
                n++;
            if (!closing && tag_is(name, n, skip)) {
                /* Skip to the matching end tag. */
                const char *c = close + 1;
                for (; c < end; c++)
                    if (*c == '<' && c + 2 + (long)n <= end && c[1] == '/' &&
                        strncasecmp(c + 2, name, n) == 0)
                        break;
                const char *gt = c < end ? memchr(c, '>', (size_t)(end - c)) : NULL;
                s = gt ? gt + 1 : end;
                continue;
            }
            if (tag_is(name, n, blocks)) {
                while (b.len && b.p[b.len - 1] == ' ')
                    b.len--;
                buf_addc(&b, '\n');
                space = 1;
            } else if (n == 1 && (*name == 'a' || *name == 'A')) {
                if (!closing) {
                    if (!tag_attr(name, (size_t)(close - name), "href", href, sizeof href))
                        href[0] = '\0';
                } else if (href[0] && strncmp(href, "mailto:", 7) != 0) {
                    buf_add(&b, " <", 2);
                    buf_add(&b, href, strlen(href));
                    buf_addc(&b, '>');
                    href[0] = '\0';
                    space = 0;
                }
            } else if (tag_is(name, n, (const char *const[]){"td", "th", NULL}) && !closing &&
                       !space) {
                buf_addc(&b, ' ');
                space = 1;
            }
            s = close + 1;
            continue;
        }
        if (*s == '&') {
            size_t used = entity(&b, s + 1, end);
            if (used) {
                s += used + 1;
                space = 0;
                continue;
            }
        }
        if (isspace((unsigned char)*s)) {
            if (!space)
                buf_addc(&b, ' ');
            space = 1;
            s++;
            continue;
        }
        buf_addc(&b, *s++);
        space = 0;
    }
    /* Collapse runs of blank lines and trailing spaces. */
    char *raw = buf_take(&b);
    if (!raw)
        return NULL;
    buf o = {0};
    int newlines = 0;
    for (char *p = raw; *p; p++) {
        if (*p == '\n') {
            while (o.len && o.p[o.len - 1] == ' ')
                o.len--;
            if (++newlines <= 2 && o.len)
                buf_addc(&o, '\n');
            continue;
        }
        if (*p == ' ' && (o.len == 0 || o.p[o.len - 1] == '\n'))
            continue;
        newlines = 0;
        buf_addc(&o, *p);
    }
    cd_free(raw);
    char *out = buf_take(&o);
    if (!out)
        return NULL;
    char *t = trim_copy(out, strlen(out));
    cd_free(out);
    return t;
}

/* --- quoted history ------------------------------------------------------ */

static int starts(const char *line, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && strncasecmp(line, prefix, k) == 0;
}

static int ends_with_wrote(const char *line, size_t n)
{
    while (n && isspace((unsigned char)line[n - 1]))
        n--;
    static const char *const tails[] = {
        "wrote:", "writes:", "a écrit :", "a écrit:", "schrieb:", "escribió:", "scritto:", NULL};
    for (const char *const *t = tails; *t; t++) {
        size_t k = strlen(*t);
        if (n >= k && strncasecmp(line + n - k, *t, k) == 0)
            return 1;
    }
    return 0;
}

typedef struct line {
    const char *p;
    size_t n;
} line;

static int blank(line l)
{
    for (size_t i = 0; i < l.n; i++)
        if (!isspace((unsigned char)l.p[i]))
            return 0;
    return 1;
}

/* Is lines[i] where the quoted history starts? */
static int quote_starts(const line *lines, size_t count, size_t i)
{
    line l = lines[i];
    if ((starts(l.p, l.n, "On ") || starts(l.p, l.n, "Le ") || starts(l.p, l.n, "Am ") ||
         starts(l.p, l.n, "El ") || starts(l.p, l.n, "Il ")) &&
        (ends_with_wrote(l.p, l.n) ||
         (i + 1 < count && ends_with_wrote(lines[i + 1].p, lines[i + 1].n))))
        return 1;
    if (starts(l.p, l.n, "-----Original Message") || starts(l.p, l.n, "----- Original Message") ||
        starts(l.p, l.n, "-------- Original Message") ||
        starts(l.p, l.n, "---------- Forwarded message"))
        return 1;
    if (starts(l.p, l.n, "From: ")) {
        int sent = 0, subject = 0;
        for (size_t k = i + 1; k < count && k < i + 6; k++) {
            sent |= starts(lines[k].p, lines[k].n, "Sent: ") ||
                    starts(lines[k].p, lines[k].n, "Date: ");
            subject |= starts(lines[k].p, lines[k].n, "Subject: ");
        }
        if (sent && subject)
            return 1;
    }
    if (l.n && l.p[0] == '>') {
        for (size_t k = i + 1; k < count; k++)
            if (!blank(lines[k]) && lines[k].p[0] != '>')
                return 0;
        return 1;
    }
    return 0;
}

int mail_split_quote(const char *text, char **fresh, char **quoted)
{
    size_t count = 0, cap = 64, len = strlen(text);
    line *lines = cd_malloc(cap * sizeof *lines);
    *fresh = *quoted = NULL;
    if (!lines)
        return CD_ENOMEM;
    for (const char *p = text; p <= text + len;) {
        const char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        if (count == cap) {
            line *more = cd_realloc(lines, 2 * cap * sizeof *lines);
            if (!more) {
                cd_free(lines);
                return CD_ENOMEM;
            }
            lines = more;
            cap *= 2;
        }
        lines[count].p = p;
        lines[count].n = n && p[n - 1] == '\r' ? n - 1 : n;
        count++;
        if (!nl)
            break;
        p = nl + 1;
    }
    size_t cut = len;
    for (size_t i = 0; i < count; i++)
        if (!blank(lines[i]) && quote_starts(lines, count, i)) {
            cut = (size_t)(lines[i].p - text);
            break;
        }
    cd_free(lines);
    *fresh = trim_copy(text, cut);
    *quoted = trim_copy(text + cut, len - cut);
    if (!*fresh || !*quoted) {
        cd_free(*fresh);
        cd_free(*quoted);
        *fresh = *quoted = NULL;
        return CD_ENOMEM;
    }
    return 0;
}

int mail_subject_token(const char *subject, char *prefix, size_t cap, int64_t *number)
{
    for (const char *s = subject ? strchr(subject, '[') : NULL; s; s = strchr(s + 1, '[')) {
        const char *p = s + 1;
        size_t n = 0;
        while (isalnum((unsigned char)p[n]) && n < 32)
            n++;
        if (n == 0 || n >= cap || p[n] != '-' || !isdigit((unsigned char)p[n + 1]))
            continue;
        const char *d = p + n + 1;
        int64_t v = 0;
        size_t k = 0;
        while (isdigit((unsigned char)d[k]) && k < 18)
            v = v * 10 + (d[k++] - '0');
        if (d[k] != ']')
            continue;
        memcpy(prefix, p, n);
        prefix[n] = '\0';
        *number = v;
        return 0;
    }
    return CD_ENOTFOUND;
}

/* --- GMime --------------------------------------------------------------- */

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_start(void)
{
    g_mime_init();
}

typedef struct walk {
    mail_msg *m;
    buf plain, html;
    int have_plain, have_html;
    const char *dsn_text; /* unused marker */
    int report;           /* inside multipart/report; report-type=delivery-status */
    char *dsn;            /* the delivery-status part's text */
    char *orig_headers;   /* text/rfc822-headers of a report */
    GMimeMessage *orig;   /* message/rfc822 inside a report (borrowed) */
    int failed;
} walk;

static void on_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer data)
{
    (void)offset;
    (void)item;
    /* Duplicated or oddly cased headers are everyday mail, not damage. */
    if (code == GMIME_WARN_DUPLICATED_HEADER || code == GMIME_WARN_DUPLICATED_PARAMETER)
        return;
    ((mail_msg *)data)->degraded = 1;
}

/* The decoded bytes of a part (new GByteArray or NULL). */
static GByteArray *part_bytes(GMimePart *part)
{
    GMimeDataWrapper *content = g_mime_part_get_content(part);
    if (!content)
        return NULL;
    GMimeStream *mem = g_mime_stream_mem_new();
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
    g_mime_data_wrapper_write_to_stream(content, mem);
    GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    g_object_unref(mem);
    return bytes;
}

/* The text of a text part in UTF-8 (new string or NULL). */
static char *part_text(GMimePart *part, mail_msg *m)
{
    if (GMIME_IS_TEXT_PART(part)) {
        const char *cs = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
        iconv_t cd = cs ? g_mime_iconv_open("UTF-8", cs) : (iconv_t)-1;
        int known = !cs || cd != (iconv_t)-1;
        if (cd != (iconv_t)-1)
            g_mime_iconv_close(cd);
        if (known) {
            char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
            if (t) {
                char *out = utf8_copy(t, strlen(t));
                g_free(t);
                return out;
            }
        }
    }
    /* Unknown charset: keep what is valid UTF-8, else read it as Latin-1. */
    GByteArray *bytes = part_bytes(part);
    if (!bytes)
        return cd_strdup("");
    char *out;
    if (g_utf8_validate((const char *)bytes->data, (gssize)bytes->len, NULL)) {
        out = utf8_copy((const char *)bytes->data, bytes->len);
    } else {
        gchar *conv = g_convert((const char *)bytes->data, (gssize)bytes->len, "UTF-8",
                                "ISO-8859-1", NULL, NULL, NULL);
        out =
            conv ? utf8_copy(conv, strlen(conv)) : utf8_copy((const char *)bytes->data, bytes->len);
        g_free(conv);
        m->degraded = 1;
    }
    g_byte_array_free(bytes, TRUE);
    return out;
}

static void add_attachment(walk *w, GMimePart *part, GMimeContentType *ct)
{
    mail_msg *m = w->m;
    if (m->nattachments >= MAX_ATTACHMENTS) {
        m->degraded = 1;
        return;
    }
    if (m->nattachments % 8 == 0) {
        mail_attachment *more =
            cd_realloc(m->attachments, (m->nattachments + 8) * sizeof *m->attachments);
        if (!more) {
            w->failed = 1;
            return;
        }
        m->attachments = more;
    }
    GByteArray *bytes = part_bytes(part);
    mail_attachment *a = &m->attachments[m->nattachments];
    memset(a, 0, sizeof *a);
    a->filename = dup_or_empty(g_mime_part_get_filename(part));
    gchar *type = g_mime_content_type_get_mime_type(ct);
    a->content_type = dup_or_empty(type);
    g_free(type);
    lower(a->content_type);
    a->size = bytes ? bytes->len : 0;
    a->data = cd_malloc(a->size ? a->size : 1);
    if (a->data && a->size)
        memcpy(a->data, bytes->data, a->size);
    if (bytes)
        g_byte_array_free(bytes, TRUE);
    GMimeContentDisposition *d = g_mime_object_get_content_disposition(GMIME_OBJECT(part));
    const char *disp = d ? g_mime_content_disposition_get_disposition(d) : NULL;
    a->is_inline = disp && strcasecmp(disp, "inline") == 0;
    m->nattachments++;
    if (!a->filename || !a->content_type || !a->data)
        w->failed = 1;
}

static void walk_object(walk *w, GMimeObject *obj, int depth, int in_alternative);

static void walk_part(walk *w, GMimePart *part, int in_alternative)
{
    GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
    int attachment = g_mime_part_is_attachment(part);
    if (w->report && ct && g_mime_content_type_is_type(ct, "message", "delivery-status")) {
        if (!w->dsn)
            w->dsn = part_text(part, w->m);
        return;
    }
    if (w->report && ct && g_mime_content_type_is_type(ct, "text", "rfc822-headers")) {
        if (!w->orig_headers)
            w->orig_headers = part_text(part, w->m);
        return;
    }
    if (!attachment && ct && g_mime_content_type_is_type(ct, "text", "plain")) {
        char *t = part_text(part, w->m);
        if (!t) {
            w->failed = 1;
            return;
        }
        if (w->have_plain && !in_alternative)
            buf_add(&w->plain, "\n\n", 2);
        if (!w->have_plain || !in_alternative)
            buf_add(&w->plain, t, strlen(t));
        w->have_plain = 1;
        cd_free(t);
        return;
    }
    if (!attachment && ct && g_mime_content_type_is_type(ct, "text", "html")) {
        char *t = part_text(part, w->m);
        if (!t) {
            w->failed = 1;
            return;
        }
        if (w->have_html)
            buf_add(&w->html, "<br>", 4);
        buf_add(&w->html, t, strlen(t));
        w->have_html = 1;
        cd_free(t);
        return;
    }
    if (ct && g_mime_content_type_is_type(ct, "multipart", "*"))
        return; /* a multipart the parser could not split: nothing to read */
    add_attachment(w, part, ct);
}

static void walk_object(walk *w, GMimeObject *obj, int depth, int in_alternative)
{
    if (!obj || w->failed)
        return;
    if (depth > MAX_DEPTH) {
        w->m->degraded = 1;
        return;
    }
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        GMimeContentType *ct = g_mime_object_get_content_type(obj);
        int alt = ct && g_mime_content_type_is_type(ct, "multipart", "alternative");
        if (ct && g_mime_content_type_is_type(ct, "multipart", "report")) {
            const char *rt = g_mime_content_type_get_parameter(ct, "report-type");
            if (!rt || strcasecmp(rt, "delivery-status") == 0)
                w->report = 1;
        }
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n; i++)
            walk_object(w, g_mime_multipart_get_part(mp, i), depth + 1, alt);
        return;
    }
    if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (w->report && !w->orig) {
            w->orig = inner;
            return;
        }
        /* A forwarded message: an attachment of its own bytes. */
        if (inner && w->m->nattachments < MAX_ATTACHMENTS) {
            GMimeStream *mem = g_mime_stream_mem_new();
            g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, mem);
            GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
            mail_msg *m = w->m;
            if (m->nattachments % 8 == 0) {
                mail_attachment *more =
                    cd_realloc(m->attachments, (m->nattachments + 8) * sizeof *m->attachments);
                if (!more) {
                    w->failed = 1;
                    g_object_unref(mem);
                    return;
                }
                m->attachments = more;
            }
            mail_attachment *a = &m->attachments[m->nattachments++];
            memset(a, 0, sizeof *a);
            const char *subj = g_mime_message_get_subject(inner);
            size_t sl = subj ? strlen(subj) : 0;
            a->filename = cd_malloc(sl + 5);
            if (a->filename)
                snprintf(a->filename, sl + 5, "%s.eml", subj && *subj ? subj : "message");
            a->content_type = cd_strdup("message/rfc822");
            a->size = bytes->len;
            a->data = cd_malloc(a->size ? a->size : 1);
            if (a->data && a->size)
                memcpy(a->data, bytes->data, a->size);
            if (!a->filename || !a->content_type || !a->data)
                w->failed = 1;
            g_object_unref(mem);
        }
        return;
    }
    if (GMIME_IS_PART(obj))
        walk_part(w, GMIME_PART(obj), in_alternative);
}

static int addr_list(InternetAddressList *list, mail_addr **out, size_t *n)
{
    int len = list ? internet_address_list_length(list) : 0;
    *out = NULL;
    *n = 0;
    for (int i = 0; i < len; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_GROUP(ia)) {
            mail_addr *sub = NULL;
            size_t k = 0;
            int rc =
                addr_list(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), &sub, &k);
            if (rc)
                return rc;
            mail_addr *more = cd_realloc(*out, (*n + k + 1) * sizeof **out);
            if (!more) {
                for (size_t j = 0; j < k; j++) {
                    cd_free(sub[j].name);
                    cd_free(sub[j].addr);
                }
                cd_free(sub);
                return CD_ENOMEM;
            }
            *out = more;
            if (k)
                memcpy(*out + *n, sub, k * sizeof *sub);
            *n += k;
            cd_free(sub);
            continue;
        }
        if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
            continue;
        mail_addr *more = cd_realloc(*out, (*n + 1) * sizeof **out);
        if (!more)
            return CD_ENOMEM;
        *out = more;
        mail_addr *a = &(*out)[(*n)++];
        a->name = dup_or_empty(internet_address_get_name(ia));
        a->addr = dup_or_empty(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
        if (!a->name || !a->addr)
            return CD_ENOMEM;
        lower(a->addr);
    }
    return 0;
}

static char *header(GMimeObject *obj, const char *name)
{
    const char *v = g_mime_object_get_header(obj, name);
    if (!v)
        return cd_strdup("");
    return trim_copy(v, strlen(v));
}

static char *msgid(const char *v)
{
    if (!v || !*v)
        return cd_strdup("");
    char *d = g_mime_utils_decode_message_id(v);
    char *out = d ? dup_or_empty(d) : trim_copy(v, strlen(v));
    g_free(d);
    return out;
}

/* A header's value in a block of header lines ("Name: value"), or NULL. */
static char *header_in_text(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p;) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1, *e = strpbrk(v, "\r\n");
            size_t len = e ? (size_t)(e - v) : strlen(v);
            /* One folded continuation line is common for Message-ID. */
            if (e && len < 2) {
                const char *next = e + strspn(e, "\r\n");
                if (*next == ' ' || *next == '\t') {
                    v = next;
                    e = strpbrk(v, "\r\n");
                    len = e ? (size_t)(e - v) : strlen(v);
                }
            }
            return trim_copy(v, len);
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

static int bounce_subject(const char *s)
{
    static const char *const words[] = {"undeliver",
                                        "delivery status notification",
                                        "mail delivery failed",
                                        "returned mail",
                                        "failure notice",
                                        "delivery failure",
                                        "could not be delivered",
                                        "non remis",
                                        "unzustellbar",
                                        NULL};
    for (const char *const *w = words; s && *w; w++)
        if (strcasestr(s, *w))
            return 1;
    return 0;
}

/* Fills the bounce fields from the report parts or the text. */
static int read_bounce(walk *w)
{
    mail_msg *m = w->m;
    char *id = NULL, *status = NULL, *reason = NULL;
    if (w->orig)
        id = msgid(g_mime_message_get_message_id(w->orig));
    if ((!id || !*id) && w->orig_headers) {
        cd_free(id);
        char *raw = header_in_text(w->orig_headers, "Message-ID");
        id = msgid(raw);
        cd_free(raw);
    }
    if ((!id || !*id) && m->text) {
        cd_free(id);
        char *raw = header_in_text(m->text, "Message-ID");
        if (!raw && m->quoted)
            raw = header_in_text(m->quoted, "Message-ID");
        id = msgid(raw);
        cd_free(raw);
    }
    if (w->dsn) {
        status = header_in_text(w->dsn, "Status");
        if (status)
            status[strcspn(status, " \t(")] = '\0';
        reason = header_in_text(w->dsn, "Diagnostic-Code");
        char *action = header_in_text(w->dsn, "Action");
        /* A delay warning is not a failure: the server keeps trying. */
        if (action && strcasecmp(action, "delayed") == 0)
            m->is_bounce = 0;
        cd_free(action);
    }
    if (!reason && m->text) {
        const char *t = m->text;
        size_t n = strcspn(t, "\n");
        reason = trim_copy(t, n > 300 ? 300 : n);
    }
    m->bounce_message_id = id ? id : cd_strdup("");
    m->bounce_status = status ? status : cd_strdup("");
    m->bounce_reason = reason ? reason : cd_strdup("");
    return m->bounce_message_id && m->bounce_status && m->bounce_reason ? 0 : CD_ENOMEM;
}

/* When GMime could not make a message of it at all: headers are what is
 * before the first blank line, the text what follows. */
static int fallback(mail_msg *m, const char *raw, size_t len, int headers_read)
{
    const char *body = NULL;
    for (size_t i = 0; i + 1 < len; i++)
        if (raw[i] == '\n' &&
            (raw[i + 1] == '\n' || (raw[i + 1] == '\r' && i + 2 < len && raw[i + 2] == '\n'))) {
            body = raw + i + (raw[i + 1] == '\n' ? 2 : 3);
            break;
        }
    char *t = body           ? utf8_copy(body, len - (size_t)(body - raw))
              : headers_read ? cd_strdup("")
                             : utf8_copy(raw, len);
    m->text = t ? trim_copy(t, strlen(t)) : NULL;
    cd_free(t);
    return m->text ? 0 : CD_ENOMEM;
}

static int is_no(const char *v)
{
    return strncasecmp(v, "no", 2) == 0 &&
           (v[2] == '\0' || v[2] == ';' || isspace((unsigned char)v[2]));
}

static int read_message(mail_msg *m, GMimeMessage *msg, walk *w)
{
    GMimeObject *obj = GMIME_OBJECT(msg);
    mail_addr *from = NULL;
    size_t nfrom = 0;
    int rc = addr_list(g_mime_message_get_from(msg), &from, &nfrom);
    if (!rc && nfrom) {
        m->from = from[0];
        for (size_t i = 1; i < nfrom; i++) {
            cd_free(from[i].name);
            cd_free(from[i].addr);
        }
    } else if (from) {
        for (size_t i = 0; i < nfrom; i++) {
            cd_free(from[i].name);
            cd_free(from[i].addr);
        }
    }
    cd_free(from);
    if (rc)
        return rc;
    if (!m->from.addr) {
        m->from.name = cd_strdup("");
        m->from.addr = cd_strdup("");
    }
    if ((rc = addr_list(g_mime_message_get_to(msg), &m->to, &m->nto)) ||
        (rc = addr_list(g_mime_message_get_cc(msg), &m->cc, &m->ncc)))
        return rc;
    m->subject = dup_or_empty(g_mime_message_get_subject(msg));
    m->message_id = msgid(g_mime_message_get_message_id(msg));
    m->in_reply_to = msgid(g_mime_object_get_header(obj, "In-Reply-To"));
    const char *refs = g_mime_object_get_header(obj, "References");
    if (refs) {
        GMimeReferences *r = g_mime_references_parse(NULL, refs);
        int n = r ? g_mime_references_length(r) : 0;
        if (n > 0 && (m->references = cd_calloc((size_t)n, sizeof *m->references))) {
            for (int i = 0; i < n; i++) {
                m->references[i] = dup_or_empty(g_mime_references_get_message_id(r, i));
                if (!m->references[i])
                    rc = CD_ENOMEM;
                m->nreferences++;
            }
        } else if (n > 0) {
            rc = CD_ENOMEM;
        }
        if (r)
            g_mime_references_free(r);
        if (rc)
            return rc;
    }
    GDateTime *date = g_mime_message_get_date(msg);
    if (date)
        m->date_ms = (int64_t)g_date_time_to_unix(date) * 1000;
    m->auto_submitted = header(obj, "Auto-Submitted");
    m->precedence = header(obj, "Precedence");
    m->x_loop = header(obj, "X-Loop");
    if (!m->subject || !m->message_id || !m->in_reply_to || !m->auto_submitted || !m->precedence ||
        !m->x_loop)
        return CD_ENOMEM;
    m->from_daemon = mail_is_daemon(m->from.addr);
    m->is_automatic = (*m->auto_submitted && !is_no(m->auto_submitted)) ||
                      strncasecmp(m->precedence, "bulk", 4) == 0 ||
                      strncasecmp(m->precedence, "list", 4) == 0 ||
                      strncasecmp(m->precedence, "junk", 4) == 0 || *m->x_loop ||
                      g_mime_object_get_header(obj, "X-Autoreply") ||
                      g_mime_object_get_header(obj, "X-Autorespond") ||
                      g_mime_object_get_header(obj, "List-Id") || m->from_daemon;

    walk_object(w, g_mime_message_get_mime_part(msg), 0, 0);
    if (w->failed || w->plain.failed || w->html.failed)
        return CD_ENOMEM;
    char *text;
    if (w->have_plain) {
        text = buf_take(&w->plain);
    } else if (w->have_html) {
        char *html = buf_take(&w->html);
        text = html ? mail_html_to_text(html, strlen(html)) : NULL;
        cd_free(html);
        m->from_html = 1;
    } else {
        text = cd_strdup("");
    }
    if (!text)
        return CD_ENOMEM;
    rc = mail_split_quote(text, &m->text, &m->quoted);
    cd_free(text);
    if (rc)
        return rc;
    int dsn = w->report && (w->dsn || w->orig || w->orig_headers);
    if (dsn || (m->from_daemon && bounce_subject(m->subject))) {
        m->is_bounce = 1;
        m->is_automatic = 1;
        rc = read_bounce(w);
    }
    return rc;
}

static int fill_empty(mail_msg *m)
{
    char **strs[] = {
        &m->from.name,      &m->from.addr,  &m->subject, &m->message_id,        &m->in_reply_to,
        &m->auto_submitted, &m->precedence, &m->x_loop,  &m->bounce_message_id, &m->bounce_status,
        &m->bounce_reason,  &m->text,       &m->quoted};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        if (!*strs[i] && !(*strs[i] = cd_strdup("")))
            return CD_ENOMEM;
    return 0;
}

int mail_parse(const char *raw, size_t len, mail_msg **out)
{
    *out = NULL;
    if (!raw || len == 0)
        return CD_EINVAL;
    pthread_once(&gmime_once, gmime_start);
    mail_msg *m = cd_calloc(1, sizeof *m);
    if (!m)
        return CD_ENOMEM;
    GMimeParserOptions *opts = g_mime_parser_options_new();
    g_mime_parser_options_set_warning_callback(opts, on_warning, m);
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, opts);
    walk w = {.m = m};
    int rc;
    if (msg) {
        rc = read_message(m, msg, &w);
        /* A multipart without a usable boundary: its text is still there. */
        if (!rc && m->degraded && !*m->text && !*m->quoted && !m->nattachments) {
            cd_free(m->text);
            m->text = NULL;
            rc = fallback(m, raw, len, 1);
        }
    } else {
        m->degraded = 1;
        rc = fallback(m, raw, len, 0);
    }
    cd_free(w.plain.p);
    cd_free(w.html.p);
    cd_free(w.dsn);
    cd_free(w.orig_headers);
    if (msg)
        g_object_unref(msg);
    g_object_unref(parser);
    g_object_unref(stream);
    g_mime_parser_options_free(opts);
    if (!rc)
        rc = fill_empty(m);
    if (rc) {
        mail_free(m);
        return rc;
    }
    m->from_daemon = mail_is_daemon(m->from.addr);
    m->is_automatic |= m->from_daemon;
    *out = m;
    return 0;
}

/* --- masking inside encoded parts ---------------------------------------- */

typedef struct masking {
    unsigned opts;
    int changed, failed;
} masking;

static void mask_message(GMimeMessage *msg, masking *k);

/* A text part whose bytes are encoded (base64, quoted-printable, uuencode):
 * decoded, masked, and set back to be encoded the same way. */
static void mask_part(GMimeObject *parent, GMimeObject *part, gpointer data)
{
    (void)parent;
    masking *k = data;
    if (GMIME_IS_MESSAGE_PART(part)) { /* a forwarded message: its parts too */
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));
        if (inner)
            mask_message(inner, k);
        return;
    }
    if (!GMIME_IS_PART(part))
        return;
    GMimeContentEncoding enc = g_mime_part_get_content_encoding(GMIME_PART(part));
    GMimeContentType *type = g_mime_object_get_content_type(part);
    if ((enc != GMIME_CONTENT_ENCODING_BASE64 && enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE &&
         enc != GMIME_CONTENT_ENCODING_UUENCODE) ||
        !type || g_ascii_strcasecmp(g_mime_content_type_get_media_type(type), "text") != 0)
        return;
    GByteArray *bytes = part_bytes(GMIME_PART(part));
    if (!bytes)
        return;
    char *copy = cd_malloc(bytes->len + 1);
    if (!copy) {
        k->failed = 1;
        g_byte_array_free(bytes, TRUE);
        return;
    }
    memcpy(copy, bytes->data, bytes->len);
    copy[bytes->len] = '\0';
    if (redact_buf(copy, bytes->len, k->opts, NULL) > 0) {
        GMimeStream *s = g_mime_stream_mem_new_with_buffer(copy, bytes->len);
        GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(s, GMIME_CONTENT_ENCODING_DEFAULT);
        g_mime_part_set_content(GMIME_PART(part), w);
        g_mime_part_set_content_encoding(GMIME_PART(part), enc);
        g_object_unref(w);
        g_object_unref(s);
        k->changed = 1;
    }
    cd_free(copy);
    g_byte_array_free(bytes, TRUE);
}

static void mask_message(GMimeMessage *msg, masking *k)
{
    g_mime_message_foreach(msg, mask_part, k);
}

int mail_redact_encoded(const char *raw, size_t len, unsigned opts, char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (!raw || len == 0)
        return 0;
    pthread_once(&gmime_once, gmime_start);
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
    masking k = {.opts = opts};
    int rc = 0;
    if (msg)
        mask_message(msg, &k);
    if (k.failed)
        rc = CD_ENOMEM;
    if (!rc && k.changed) {
        GMimeStream *mem = g_mime_stream_mem_new();
        g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
        ssize_t wrote = g_mime_object_write_to_stream(GMIME_OBJECT(msg), NULL, mem);
        GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
        g_object_unref(mem);
        if (wrote < 0 && bytes) { /* a short copy is no copy */
            g_byte_array_free(bytes, TRUE);
            bytes = NULL;
        }
        *out = bytes ? cd_malloc(bytes->len + 1) : NULL;
        if (*out) {
            memcpy(*out, bytes->data, bytes->len);
            (*out)[bytes->len] = '\0';
            *outlen = bytes->len;
        } else {
            rc = CD_ENOMEM;
        }
        if (bytes)
            g_byte_array_free(bytes, TRUE);
    }
    if (msg)
        g_object_unref(msg);
    g_object_unref(parser);
    g_object_unref(stream);
    return rc;
}

int mail_build(const mail_out *o, char **out, size_t *len)
{
    pthread_once(&gmime_once, gmime_start);
    GMimeMessage *msg = g_mime_message_new(TRUE);
    GMimeObject *obj = GMIME_OBJECT(msg);
    g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_FROM, o->from_name ? o->from_name : "",
                               o->from_addr);
    g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, "", o->to_addr);
    g_mime_message_set_subject(msg, o->subject ? o->subject : "", "utf-8");
    g_mime_message_set_message_id(msg, o->message_id);
    GDateTime *date = g_date_time_new_from_unix_utc(o->date_ms / 1000);
    g_mime_message_set_date(msg, date);
    g_date_time_unref(date);
    if (o->in_reply_to && *o->in_reply_to) {
        char *v = g_strdup_printf("<%s>", o->in_reply_to);
        g_mime_object_set_header(obj, "In-Reply-To", v, NULL);
        g_free(v);
    }
    if (o->references && *o->references) {
        GString *refs = g_string_new(NULL);
        gchar **ids = g_strsplit(o->references, " ", -1);
        for (gchar **id = ids; *id; id++)
            if (**id)
                g_string_append_printf(refs, "%s<%s>", refs->len ? " " : "", *id);
        g_strfreev(ids);
        g_mime_object_set_header(obj, "References", refs->str, NULL);
        g_string_free(refs, TRUE);
    }
    if (o->automatic)
        g_mime_object_set_header(obj, "Auto-Submitted", "auto-replied", NULL);
    GMimeTextPart *part = g_mime_text_part_new_with_subtype("plain");
    g_mime_text_part_set_text(part, o->text ? o->text : "");
    g_mime_message_set_mime_part(msg, GMIME_OBJECT(part));
    g_object_unref(part);
    GMimeFormatOptions *fmt = g_mime_format_options_clone(NULL);
    g_mime_format_options_set_newline_format(fmt, GMIME_NEWLINE_FORMAT_DOS);
    char *text = g_mime_object_to_string(obj, fmt);
    g_mime_format_options_free(fmt);
    g_object_unref(msg);
    if (!text)
        return CD_ENOMEM;
    *len = strlen(text);
    *out = cd_strndup(text, *len);
    g_free(text);
    return *out ? 0 : CD_ENOMEM;
}

static void addrs_free(mail_addr *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cd_free(a[i].name);
        cd_free(a[i].addr);
    }
    cd_free(a);
}

void mail_free(mail_msg *m)
{
    if (!m)
        return;
    cd_free(m->from.name);
    cd_free(m->from.addr);
    addrs_free(m->to, m->nto);
    addrs_free(m->cc, m->ncc);
    cd_free(m->subject);
    cd_free(m->message_id);
    cd_free(m->in_reply_to);
    for (size_t i = 0; i < m->nreferences; i++)
        cd_free(m->references[i]);
    cd_free(m->references);
    cd_free(m->auto_submitted);
    cd_free(m->precedence);
    cd_free(m->x_loop);
    cd_free(m->bounce_message_id);
    cd_free(m->bounce_status);
    cd_free(m->bounce_reason);
    cd_free(m->text);
    cd_free(m->quoted);
    for (size_t i = 0; i < m->nattachments; i++) {
        cd_free(m->attachments[i].filename);
        cd_free(m->attachments[i].content_type);
        cd_free(m->attachments[i].data);
    }
    cd_free(m->attachments);
    cd_free(m);
}

/* mail.h - an Internet message (RFC 5322, MIME) read into a plain struct.
 *
 * Wraps GMime 3. Every header is decoded (encoded words, any charset) to
 * UTF-8; the text is the text/plain part if there is one, else the HTML
 * part turned into readable text; a reply's quoted history is split from
 * its new text; attachments are decoded to their bytes. Broken MIME is read
 * as far as it is readable and never fails the parse: whatever cannot be
 * read is left out and `degraded` is set. Bounces and delivery reports
 * (RFC 3464, and the common non-standard ones) are recognised, with the
 * Message-ID of the message that bounced when the report carries it.
 *
 * No I/O; safe to call from several threads at once. */
#ifndef MAIL_H
#define MAIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct mail_addr {
    char *name; /* display name (UTF-8), "" if none */
    char *addr; /* lower-cased address, "" if none */
} mail_addr;

typedef struct mail_attachment {
    char *filename;     /* UTF-8, "" if none */
    char *content_type; /* "type/subtype" */
    unsigned char *data;
    size_t size;
    int is_inline; /* Content-Disposition: inline (an image in the text) */
} mail_attachment;

typedef struct mail_msg {
    mail_addr from;
    mail_addr *to, *cc;
    size_t nto, ncc;
    char *subject;     /* decoded, "" if none */
    char *message_id;  /* without <>, "" if none */
    char *in_reply_to; /* without <>, "" if none */
    char **references; /* without <>, oldest first */
    size_t nreferences;
    int64_t date_ms; /* Date: as epoch ms, 0 if none or unreadable */

    /* Loop and noise: the raw header values ("" if absent) and the verdict. */
    char *auto_submitted, *precedence, *x_loop;
    int is_automatic; /* Auto-Submitted other than no, Precedence bulk/list/junk,
                       * X-Loop, X-Autoreply, List-Id or a daemon sender */
    int from_daemon;  /* mailer-daemon@, postmaster@, no sender at all */

    /* Bounces and delivery reports. */
    int is_bounce;
    char *bounce_message_id; /* the original's Message-ID, "" if not found */
    char *bounce_status;     /* "5.1.1", "" if none */
    char *bounce_reason;     /* Diagnostic-Code or the first text line, "" */

    char *text;    /* the new text (UTF-8, trimmed), "" if none */
    char *quoted;  /* the quoted history below it, "" if none */
    int from_html; /* text came from an HTML part */

    mail_attachment *attachments;
    size_t nattachments;

    int degraded; /* parts of the message could not be read */
} mail_msg;

/* Reads raw[0..len). Returns 0 and a new message (mail_free), CD_EINVAL if
 * raw is empty, CD_ENOMEM. Anything else that is wrong with the message is
 * reported through `degraded`, not by failing. */
int mail_parse(const char *raw, size_t len, mail_msg **out);
void mail_free(mail_msg *m);

/* Card numbers and the rest of redact.h hide from a byte-level scan inside
 * text encoded as base64 or quoted-printable (a body, a text attachment, a
 * forwarded message's parts). This decodes each such text part, masks it
 * with redact_buf(opts) and encodes it back. *out is a new copy of the
 * message (cd_free, *outlen bytes) when something was masked, else NULL:
 * the caller still masks the bytes it keeps, for the plain parts and the
 * headers. CD_ENOMEM on failure. */
int mail_redact_encoded(const char *raw, size_t len, unsigned opts, char **out, size_t *outlen);

/* An outbound message to build. Strings are UTF-8; NULL or "" leaves a
 * header out. references: space-separated Message-IDs without <>. */
typedef struct mail_out {
    const char *from_name, *from_addr, *to_addr, *subject, *text;
    const char *message_id, *in_reply_to, *references;
    int automatic; /* adds Auto-Submitted: auto-replied */
    int64_t date_ms;
} mail_out;

/* Builds the message (headers encoded as needed, text/plain UTF-8 with the
 * transfer encoding GMime picks). *out is a new string (cd_free). */
int mail_build(const mail_out *o, char **out, size_t *len);

/* HTML to readable text: tags dropped, block elements as line breaks,
 * links kept as "text <url>", script and style skipped, entities decoded.
 * New string (cd_free). */
char *mail_html_to_text(const char *html, size_t len);

/* Splits text into the new part and the quoted history (the reply header
 * "On ... wrote:", "-----Original Message-----", an Outlook header block,
 * or a trailing block of "> " lines). Both new strings (cd_free). */
int mail_split_quote(const char *text, char **fresh, char **quoted);

/* Writes the subject token "[PREFIX-123]" of subject into prefix (cap
 * bytes) and *number; 0 if found, CD_ENOTFOUND if not. */
int mail_subject_token(const char *subject, char *prefix, size_t cap, int64_t *number);

/* Lower-cases and checks an address; returns 1 for mailer-daemon and
 * postmaster (any domain). */
int mail_is_daemon(const char *addr);

#endif

/* mailer.h - the thread that sends the store's outbox by SMTP (libcurl).
 *
 * Every half second it claims due emails under a lease (the store's
 * conditional update: of several servers on one store exactly one claims
 * each row), builds each (the brand's From, Message-ID, In-Reply-To,
 * References, Auto-Submitted on automatic mail), sends it to the client's
 * smtp_url or CAREDESK_SMTP_URL (smtp:// with STARTTLS when offered,
 * smtps://; CAREDESK_SMTP_USER and CAREDESK_SMTP_PASSWORD authenticate), and
 * records sent, failed (a 5xx answer) or queued again with backoff. */
#ifndef MAILER_H
#define MAILER_H

#include "store/store.h"

typedef struct mailer mailer;

/* name identifies this server in leases; allow_private lets a client's
 * smtp_url be a private address (netguard.h). */
int mailer_start(store *st, const char *name, int allow_private, mailer **out);
/* Stops the thread (a send in progress finishes first); NULL is a no-op. */
void mailer_stop(mailer *m);

#endif

/* imap.h - polling the clients' mailboxes by IMAP (libcurl).
 *
 * A few worker threads (4 by default) each claim one due mailbox at a time
 * under a lease in the store (of several servers on one store exactly one
 * polls a mailbox), so mailboxes are polled concurrently and a slow one
 * holds up only its own worker; every network step has its own timeout.
 *
 * A poll logs in (imaps://, or imap:// with STARTTLS, required unless the
 * host is loopback), SELECTs the mailbox and reads its UIDVALIDITY; when
 * that changed, the mailbox is read again from the start (Message-ID
 * dedupe keeps every message once). Then UID SEARCH for the UIDs above the
 * last one done, and for each, in order: UID FETCH BODY.PEEK[] (the message
 * stays unseen), store_mail_receive (committed), then flag it \Seen or move
 * it, then record its UID as done. A crash before the commit leaves the
 * message unseen and not done (fetched again); one after it leaves it
 * stored and fetched again, a duplicate the store drops. */
#ifndef IMAP_H
#define IMAP_H

#include "store/store.h"

typedef struct imap_poller imap_poller;

typedef struct imap_config {
    const char *name;    /* this server in leases */
    const char *ca_file; /* CA bundle to verify servers with; NULL: the system's */
    int workers;         /* 0: 4 */
    int timeout_ms;      /* of each network step; 0: 30 s */
    int idle_ms;         /* how often an idle worker looks for due mailboxes; 0: 500 ms */
    int allow_private;   /* mailboxes may be at private addresses (see netguard.h) */
} imap_config;

int imap_poller_start(store *st, const imap_config *cfg, imap_poller **out);
/* Stops the workers (a poll in progress stops at its next step); NULL is a
 * no-op. */
void imap_poller_stop(imap_poller *p);

#endif

/* knowledge.h - the knowledge base's search index, live: built from the
 * store's published articles at start and kept current by following the
 * store's numbered article changes (kb_changes), so several servers on one
 * PostgreSQL each keep theirs current. A follower thread applies changes
 * as soon as this server commits an article write (knowledge_kick) and
 * checks for other servers' changes every KNOWLEDGE_POLL_MS. */
#ifndef KNOWLEDGE_H
#define KNOWLEDGE_H

#include "core/kb.h"
#include "store/store.h"

#define KNOWLEDGE_POLL_MS 500

typedef struct knowledge knowledge;

/* Builds the index and starts the follower. st is borrowed. */
int knowledge_start(store *st, knowledge **out, char *err, size_t errlen);
/* A write was committed: follow the change log now. NULL is a no-op. */
void knowledge_kick(knowledge *k);
/* Applies every change committed so far, on the caller's thread. */
int knowledge_sync(knowledge *k);
/* The index (thread-safe; see kb.h). */
kb_index *knowledge_index(knowledge *k);
/* The change number the index reflects. */
int64_t knowledge_seq(knowledge *k);
void knowledge_stop(knowledge *k);

#endif

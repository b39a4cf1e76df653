/* intents.h - intent models, live: one classifier per client (core/intent)
 * learning from the store's log of resolved interactions, and predicting
 * for the store when an interaction arrives (store_set_classifier).
 *
 * At start every client's model learns the whole log and is refitted; a
 * follower thread then learns new entries as they are committed (by this
 * server or another on the same database), at once after this server's
 * writes (intents_kick) and every INTENTS_POLL_MS otherwise. A refit runs
 * on a copy of the model while the original keeps answering, and is
 * swapped in when done. A model predicts once it knows two categories and
 * INTENTS_MIN_EXAMPLES examples. */
#ifndef INTENTS_H
#define INTENTS_H

#include "store/store.h"

#include <jansson.h>

#define INTENTS_POLL_MS 1000
#define INTENTS_MIN_EXAMPLES 10

typedef struct intents intents;

/* Learns the log, starts the follower and gives the store its classifier.
 * st is borrowed and must outlive it. */
int intents_start(store *st, intents **out, char *err, size_t errlen);
void intents_kick(intents *in);
/* Learns every entry committed so far, on the caller's thread. */
int intents_sync(intents *in);
/* {categories: [...], examples, trained_examples, temperature, predicting}
 * of a client's model (new reference); NULL members when it has none. */
json_t *intents_info(intents *in, int64_t client);
/* Stops the follower and takes the classifier back from the store. */
void intents_stop(intents *in);

#endif

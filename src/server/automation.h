/* automation.h - what happens with time rather than requests: idle rules
 * (an interaction without activity for a rule's minutes) and, with them,
 * every other clock the store keeps. One thread per server looks every
 * poll_ms for what is due and fires it; the store makes sure each firing
 * happens once however many servers look (see store_idle_fire). */
#ifndef AUTOMATION_H
#define AUTOMATION_H

#include "store/store.h"

typedef struct automation automation;

/* poll_ms 0: 15 s. st is borrowed. */
int automation_start(store *st, int64_t poll_ms, automation **out);
/* Runs one round on the caller's thread; returns how many fired. */
int automation_round(automation *a);
void automation_stop(automation *a);

#endif

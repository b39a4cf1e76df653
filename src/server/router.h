/* router.h - routing, live: the routing engine (core/route) fed from the
 * store and its decisions written back to it.
 *
 * One server at a time routes: the one holding the store's router lease.
 * Its router thread runs iterations, each one store transaction that
 * renews the lease (whose row lock keeps iterations of different servers
 * from overlapping), reads the routing hints committed since the last
 * iteration, re-reads their subjects (interactions, agents, queues), feeds
 * the engine, ticks it, and writes its decisions: offers, expiries, agents
 * set away for missed offers, overflow, the end of wrap-up. A server that
 * takes the lease over, or whose iteration failed, rebuilds the engine
 * from the store; offers pending at that moment are withdrawn and made
 * again. Offer outcomes themselves are decided by the store (accept and
 * expiry are conditional updates), so no interaction is assigned twice
 * however servers and clocks race. After each commit the router pushes
 * offers and state changes to the agents' event streams and fresh queue
 * figures to supervisors'. */
#ifndef ROUTER_H
#define ROUTER_H

#include "server/hub.h"
#include "store/store.h"

typedef struct router router;

/* Starts the router thread. name identifies this server in the lease
 * (unique per process). st and h are borrowed and must outlive it. */
int router_start(store *st, hub *h, const char *name, router **out);
/* Something routing may care about was committed: iterate soon. */
void router_kick(router *r);
/* Stops the thread, giving up the lease. NULL is a no-op. */
void router_stop(router *r);
/* 1 while this server holds the routing lease (as of its last iteration). */
int router_is_leader(router *r);
/* Iterates once now, on the caller's thread (tests, and the demo). */
int router_iterate(router *r);

#endif

/* lifecycle.h - the interaction status machine.
 *
 *   new ──► open ◄──► pending
 *    │       ▲ ▲ ╲      ▲
 *    │       │ │  ╲     │
 *    │       │ └► on_hold
 *    ▼       ▼
 *   resolved ──► closed (final)
 *
 * Every status but closed may move to resolved; resolved may reopen to open
 * or close; new may go anywhere but back to new. */
#ifndef LIFECYCLE_H
#define LIFECYCLE_H

/* The statuses, NULL-terminated, in lifecycle order. */
extern const char *const lifecycle_statuses[];

/* Returns 1 if s names a status, else 0. */
int lifecycle_status_valid(const char *s);

/* Returns 1 if an interaction may move from status `from` to `to` (a move
 * to the same status is allowed and changes nothing), else 0. */
int lifecycle_can_transition(const char *from, const char *to);

#endif

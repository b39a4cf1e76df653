/* lifecycle.c - allowed interaction status transitions. */
#include "core/lifecycle.h"

#include <string.h>

const char *const lifecycle_statuses[] = {"new",      "open",   "pending", "on_hold",
                                          "resolved", "closed", NULL};

enum { S_NEW, S_OPEN, S_PENDING, S_ON_HOLD, S_RESOLVED, S_CLOSED, S_COUNT };

/* allowed[from][to] */
static const unsigned char allowed[S_COUNT][S_COUNT] = {
    /*             new open pend hold reso clos */
    /* new     */ {1, 1, 1, 1, 1, 1},
    /* open    */ {0, 1, 1, 1, 1, 0},
    /* pending */ {0, 1, 1, 1, 1, 0},
    /* on_hold */ {0, 1, 1, 1, 1, 0},
    /* resolved*/ {0, 1, 0, 0, 1, 1},
    /* closed  */ {0, 0, 0, 0, 0, 1},
};

static int status_index(const char *s)
{
    for (int i = 0; lifecycle_statuses[i]; i++)
        if (s && strcmp(s, lifecycle_statuses[i]) == 0)
            return i;
    return -1;
}

int lifecycle_status_valid(const char *s)
{
    return status_index(s) >= 0;
}

int lifecycle_can_transition(const char *from, const char *to)
{
    int f = status_index(from), t = status_index(to);
    return f >= 0 && t >= 0 && allowed[f][t];
}

/* route.c - the routing engine: see route.h for the contract and
 * docs/routing.md for the model, the formulas and the complexity.
 *
 * Layout of the state (every entity lives in a dense array, found through
 * an id -> slot hash map; decisions never depend on hash order):
 *
 *   queue   per channel, its waiting items in a max-heap by a static key (see
 *           item_key): all items of a queue age at the same rate, so the order
 *           never changes while they wait and nothing is re-sorted as time
 *           passes. Each heap entry carries the item's requirements as given
 *           and the time it entered the queue, from which its widening step
 *           follows: choosing reads no item, and widening moves nothing
 *   agent   its clients, skills (sorted by dense skill index), load, and the
 *           items whose preferred-agent window for it is still open
 *   client  its queues, up to 32 numbered ("local") skills, an entry per
 *           agent serving it (the agent's levels on the local skills and its
 *           idle key, so choosing among agents reads no agent), and per
 *           channel a bitmap of its "free" agents (available, with room for
 *           one more item on it)
 *   timers  for interactions (overflow or window end, offer expiry, and one
 *           per widening step, see T_STEP): FIFO lanes by delay, a lazy
 *           min-heap for what finds no lane; a lazy min-heap for wrap-up
 *           ends; a stale entry is recognised by its generation and dropped
 *           when it surfaces
 *
 * After every event the matching loop settles the agents and items the event
 * made "dirty" (more free, or eligible for more agents) until no free agent
 * may take any waiting item. Every offer pairs an item and an agent that are
 * each other's first choice: the item is the agent's highest-scored eligible
 * item, and the agent is the item's best eligible free agent by its queue's
 * criteria. */
#include "core/route.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <stdbool.h>
#include <string.h>

#define NONE UINT32_MAX
#define NEVER INT64_MAX
#define CONSUMED INT64_MIN          /* item->due when no live waiting timer entry exists */
#define MAX_TIME 1000000000000000LL /* ms; keeps every product inside int64 */
#define MAX_SECONDS 100000000       /* any configured duration, in seconds */
#define MAX_POINTS 1000000
#define MAX_AGING 1000

enum { IT_FREE, IT_WAITING, IT_OFFERED, IT_ASSIGNED };
enum { AT_NONE, AT_HEAP, AT_PREF, AT_LIMBO }; /* where a waiting item is kept */

static const uint8_t default_weight[ROUTE_CHANNELS] = {60, 20, 12, 12, 12};

/* --- small containers ---------------------------------------------------- */

typedef struct mslot { /* key and value side by side: one cache line per probe */
    int64_t key;       /* -1: empty */
    uint32_t val;
} mslot;

typedef struct idmap { /* int64 key >= 0 -> slot; linear probing */
    mslot *s;
    uint32_t cap, n;
} idmap;

/* An entry of a queue's heap of waiting items (a max-heap by key; ties are
 * settled by the records). Half a cache line: the key, and what deciding
 * whether an agent may take the item needs: its requirements as given and
 * when it entered the queue, from which its widening step at any moment
 * follows; so widening changes nothing here. */
enum { HENT_EXCL = 1, HENT_GENERAL = 2 };
typedef struct hent {
    int64_t key;
    int64_t entered;
    uint32_t slot;
    uint8_t flags; /* HENT_EXCL: has exclusions, look before taking it; HENT_GENERAL: a
                    * skill its client could not number, req is not valid */
    uint8_t nreq;
    uint8_t req[ROUTE_MAX_REQUIRED]; /* local skill << 3 | level, most important first */
} hent;
_Static_assert(sizeof(hent) == 32, "heap entry");

/* Client-local skills: each client numbers up to LOCAL_SKILLS of the skills
 * its interactions require, and the client's entry for each agent carries its
 * level on each of them as a 4-bit field (two words). Requirements become
 * the same kind of vector, so "meets every required level" is one
 * subtraction per word and match points a sum of fields, without reading
 * the agent. An interaction needing a skill its client could not number
 * takes the general path. */
#define LOCAL_SKILLS 32
#define NIB_HIGH 0x8888888888888888ULL
#define SKILL_BITS (LOCAL_SKILLS * 5)

typedef struct fent { /* a client's entry for an agent: what choosing among free agents reads */
    uint64_t lv[2];   /* level on each client-local skill, 4 bits each */
    uint64_t idle;    /* idle_key() of the agent */
    uint32_t slot;
    uint32_t ci; /* the client's index in the agent's list */
} fent;

/* An item's timers: T_WAIT, the next change of where it waits (its window's
 * end, overflow; it runs on while the item is offered, so that an offer that
 * comes back finds it still set); T_OFFER, while offered, the offer's expiry;
 * T_STEP, one per widening step, set when it enters a queue. A widening step
 * moves nothing (the step follows from the time), so its entry only matters
 * when an agent of the item's client is free on its channel: the entry says
 * which (kind | channel << 2 | client << 5), and is dropped unread otherwise. */
enum { T_WAIT, T_OFFER, T_STEP, T_KINDS };
#define T_NOCLIENT 7 /* in a T_STEP entry's channel bits: the client slot did not fit */

typedef struct tent { /* a timer entry (min-heap by due, then id) */
    int64_t due, id;
    uint64_t gen;
    uint32_t slot;
    uint32_t kind; /* T_WAIT, T_OFFER or T_STEP (with its channel and client); wrap-ups: 0 */
} tent;

/* A timer lane: a FIFO of entries that were all set the same delay ahead of
 * the time of setting. Time never goes back, so such entries come due in
 * the order they were set (equal dues are kept in id order on insertion):
 * O(1) per timer instead of a heap's O(log n). */
#define LANES 8
#define LANE_EMPTY INT64_MIN /* the delay of an empty lane */
typedef struct lane {
    tent *ring; /* cap is a power of two */
    uint32_t head, n, cap;
} lane;

/* On cache-line boundaries (the agent array is aligned to them): the first
 * line holds what offers, answers, releases and pull's capacity check read,
 * the next two its clients and its entries' places there. */
typedef struct agent {
    _Alignas(64) int64_t id;
    int64_t idle_since;
    uint64_t idle; /* idle_key() as written into its client entries */
    uint32_t handled;
    uint16_t used; /* units held; above capacity only through route_assign */
    uint16_t noffers, nassigned;
    uint8_t state, nvoice, nskills, nclients;
    uint8_t missed, free_mask, dirty; /* free_mask: channels it is listed free for */
    uint8_t weight[ROUTE_CHANNELS];
    uint32_t npref;
    uint32_t *pref;                      /* waiting items whose window for this agent is open */
    uint32_t clients[ROUTE_MAX_CLIENTS]; /* client slots */
    uint32_t cpos[ROUTE_MAX_CLIENTS];    /* its entry's place in each client's ents */
    uint64_t lv[ROUTE_MAX_CLIENTS][2];   /* levels on each client's local skills (see fent) */
    uint32_t offers[ROUTE_CAPACITY];     /* each offer holds >= 1 unit */
    uint64_t sig;                        /* bit (skill index % 64) for each skill held */
    uint8_t level[ROUTE_MAX_SKILLS];
    uint32_t skill[ROUTE_MAX_SKILLS]; /* dense skill indices, ascending */
    int64_t wrapup_until;
    uint64_t wgen; /* generation of its live wrap-up timer entry */
    int32_t away_reason;
    uint32_t cappref;
} agent;
_Static_assert(offsetof(agent, clients) == 64 && offsetof(agent, lv) == 192, "agent lines");

/* Three cache lines (the item array is aligned to them): the first holds
 * what a due timer, an answer or a finish reads; the second what placing
 * and choosing read; the third the rest. */
typedef struct item {
    _Alignas(64) int64_t id;
    int64_t due, entered, expires;
    uint32_t queue, agent, pref, nexcl;
    uint8_t nreq, channel, urgency, tier, status, at, sched, units, window, dirty;
    uint8_t local; /* every required skill is local to the client: mmask and need are valid */
    _Alignas(64) uint32_t req_skill[ROUTE_MAX_REQUIRED]; /* as given: most important first */
    uint8_t req_level[ROUTE_MAX_REQUIRED];
    int64_t key, arrived;
    uint32_t client, opos;
    int64_t window_end;
    int64_t *excl; /* ids of agents that rejected or missed it (maybe unknown ones) */
    uint32_t capexcl;
    uint8_t req_pack[ROUTE_MAX_REQUIRED]; /* local skill << 3 | level of each (when local) */
    uint64_t mmask[2]; /* 4-bit fields of the required skills as given (match points) */
} item;
_Static_assert(offsetof(item, req_skill) == 64 && offsetof(item, window_end) == 128 &&
                   sizeof(item) == 192,
               "item lines");
/* item.sched: the T_STEP timers of its current queue and entry time are set. */

/* On cache-line boundaries (the queue array is aligned to them): the first
 * line holds all a pull reads to rule out the queue's heaps, the second
 * where the heaps are. */
typedef struct queue {
    _Alignas(64) int64_t top[ROUTE_CHANNELS]; /* the key at the root of each heap */
    uint32_t n[ROUTE_CHANNELS];               /* entries in each heap */
    uint16_t aging;                           /* cfg.aging_points_per_s */
    uint8_t held;               /* the channels with waiting items, as bits (n[ch] > 0) */
    hent *heap[ROUTE_CHANNELS]; /* its waiting items on each channel */
    uint32_t cap[ROUTE_CHANNELS];
    uint32_t client;
    size_t waiting, offered;
    route_queue cfg;
} queue;
_Static_assert(offsetof(queue, heap) == 64, "queue lines");

typedef struct client {
    int64_t id;
    uint32_t *queues, nqueues, capqueues;
    /* an entry per agent serving it, and per channel the "free" ones
     * (available, with room for one more item on it) as a bitmap over them */
    fent *ents;
    uint32_t nents, capents;
    uint64_t *free[ROUTE_CHANNELS];
    uint32_t nfree[ROUTE_CHANNELS], capwords;
    /* for each 64 entries, SKILL_BITS bitmaps: (local skill l, level v) at
     * l * 5 + v - 1 marks the entries whose level on l is at least v */
    uint64_t *skill_bits;
    uint32_t local[LOCAL_SKILLS]; /* dense skill indices numbered for this client */
    uint32_t nlocal;
} client;

typedef struct best { /* the best item found so far by a scan; its record is read only on ties */
    uint32_t slot;
    int64_t score;
} best;

struct route_engine {
    int64_t now;
    uint64_t gen;
    size_t bytes;
    idmap agent_ids, item_ids, queue_ids, client_ids, skill_ids;
    agent *agents;    /* on 64-byte boundaries, inside agents_raw */
    void *agents_raw; /* the block holding agents */
    uint32_t nagents, capagents;
    item *items;     /* on 64-byte boundaries, inside items_raw */
    void *items_raw; /* the block holding items */
    uint32_t *ipos;  /* an item's place in its queue's heap or preferred list */
    uint64_t *tgen;  /* generation of an item's live timer entries, [T_KINDS * slot + kind] */
    uint32_t *ifree;
    uint32_t nitems, capitems, nifree;
    queue *queues;    /* on 64-byte boundaries, inside queues_raw */
    void *queues_raw; /* the block holding queues */
    uint32_t nqueues, capqueues;
    client *clients;
    uint32_t nclients, capclients;
    uint32_t nskills;
    tent *timers, *wraps; /* timers: item timers that found no lane */
    uint32_t ntimers, captimers, nwraps, capwraps;
    lane lanes[LANES];
    int64_t lane_due[LANES];   /* due of each lane's first entry; NEVER when empty */
    int64_t lane_id[LANES];    /* its id (INT64_MAX when empty): the order needs no entry */
    int64_t lane_delay[LANES]; /* the delay of each lane's entries; LANE_EMPTY */
    int64_t tnext;             /* no item timer entry is due before this */
    uint32_t *dirty_agents, *dirty_items, *limbo;
    uint32_t ndirty_agents, ndirty_items, nlimbo;
    uint32_t settling; /* during the agent phase: index in dirty_agents; else NONE */
    uint32_t capdagents, capditems, caplimbo, capipos, capifree, captgen;
    route_decision *log;
    size_t loghead, logn, logcap;
};

/* Grows *p to hold at least need elements, doubling; counts the bytes. */
static int grow(route_engine *e, void **p, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    uint64_t nc = *cap ? (uint64_t)*cap * 2 : 8;
    while (nc < need)
        nc *= 2;
    if (nc > UINT32_MAX - 1)
        return CD_ENOMEM;
    void *q = cd_realloc(*p, (size_t)nc * elem);
    if (!q)
        return CD_ENOMEM;
    cd_mem_hint_huge(q, (size_t)nc * elem); /* the new half is not touched yet */
    e->bytes += (size_t)(nc - *cap) * elem;
    *p = q;
    *cap = (uint32_t)nc;
    return 0;
}

/* Grows an array as grow() does, keeping it on 64-byte boundaries: it sits
 * in a block (*raw) 63 bytes larger, as realloc promises less alignment;
 * the first `used` elements are kept. */
static int grow_aligned(route_engine *e, void **raw, void **p, uint32_t *cap, uint32_t used,
                        uint32_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    uint64_t nc = *cap ? (uint64_t)*cap * 2 : 8;
    while (nc < need)
        nc *= 2;
    if (nc > UINT32_MAX - 1)
        return CD_ENOMEM;
    char *r = cd_malloc((size_t)nc * elem + 63);
    if (!r)
        return CD_ENOMEM;
    cd_mem_hint_huge(r, (size_t)nc * elem + 63);
    void *a = (void *)(((uintptr_t)r + 63) & ~(uintptr_t)63);
    if (used)
        memcpy(a, *p, (size_t)used * elem);
    cd_free(*raw);
    e->bytes += (size_t)(nc - *cap) * elem + (*cap ? 0 : 63);
    *raw = r;
    *p = a;
    *cap = (uint32_t)nc;
    return 0;
}

/* Fibonacci hashing: the top bits of k times 2^64 / phi (cap is a power of
 * two); spreads sequential ids evenly. */
static inline uint32_t map_home(const idmap *m, int64_t k)
{
    return (uint32_t)(((uint64_t)k * 0x9e3779b97f4a7c15ULL) >> (64 - __builtin_ctz(m->cap)));
}

static uint32_t map_get(const idmap *m, int64_t k)
{
    if (!m->cap)
        return NONE;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = map_home(m, k);; i = (i + 1) & mask) {
        if (m->s[i].key == k)
            return m->s[i].val;
        if (m->s[i].key < 0)
            return NONE;
    }
}

static void map_put(idmap *m, int64_t k, uint32_t v) /* room reserved, k absent */
{
    uint32_t mask = m->cap - 1, i = map_home(m, k);
    while (m->s[i].key >= 0)
        i = (i + 1) & mask;
    m->s[i].key = k;
    m->s[i].val = v;
    m->n++;
}

/* Room for `extra` more keys at a load factor under 3/4. */
static int map_reserve(route_engine *e, idmap *m, uint32_t extra)
{
    uint64_t need = (uint64_t)m->n + extra;
    if (need * 4 < (uint64_t)m->cap * 3)
        return 0;
    uint64_t nc = m->cap ? (uint64_t)m->cap * 2 : 16;
    while (need * 4 >= nc * 3)
        nc *= 2;
    if (nc > (1u << 31))
        return CD_ENOMEM;
    idmap nm = {cd_malloc((size_t)nc * sizeof(mslot)), (uint32_t)nc, 0};
    if (!nm.s)
        return CD_ENOMEM;
    cd_mem_hint_huge(nm.s, (size_t)nc * sizeof(mslot));
    for (uint64_t i = 0; i < nc; i++)
        nm.s[i].key = -1;
    for (uint32_t i = 0; i < m->cap; i++)
        if (m->s[i].key >= 0)
            map_put(&nm, m->s[i].key, m->s[i].val);
    e->bytes += (size_t)(nc - m->cap) * sizeof(mslot);
    cd_free(m->s);
    *m = nm;
    return 0;
}

static void map_del(idmap *m, int64_t k) /* backward-shift deletion */
{
    if (!m->cap)
        return;
    uint32_t mask = m->cap - 1, i = map_home(m, k);
    while (m->s[i].key != k) {
        if (m->s[i].key < 0)
            return;
        i = (i + 1) & mask;
    }
    for (uint32_t j = i;;) {
        j = (j + 1) & mask;
        if (m->s[j].key < 0)
            break;
        uint32_t h = map_home(m, m->s[j].key);
        bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (stays)
            continue;
        m->s[i].key = m->s[j].key;
        m->s[i].val = m->s[j].val;
        i = j;
    }
    m->s[i].key = -1;
    m->n--;
}

static void map_free(idmap *m)
{
    cd_free(m->s);
}

/* --- a queue's heaps of waiting items ------------------------------------- */

/* Higher key first; ties: earlier arrival, then lower id. */
static inline bool hent_before(const route_engine *e, const hent *a, const hent *b)
{
    if (a->key != b->key)
        return a->key > b->key;
    const item *x = &e->items[a->slot], *y = &e->items[b->slot];
    if (x->arrived != y->arrived)
        return x->arrived < y->arrived;
    return x->id < y->id;
}

static void heap_fix(route_engine *e, hent *h, uint32_t n, uint32_t i)
{
    hent x = h[i];
    while (i > 0 && hent_before(e, &x, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        e->ipos[h[i].slot] = i;
        i = (i - 1) / 2;
    }
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && hent_before(e, &h[c + 1], &h[c]))
            c++;
        if (!hent_before(e, &h[c], &x))
            break;
        h[i] = h[c];
        e->ipos[h[i].slot] = i;
        i = c;
    }
    h[i] = x;
    e->ipos[x.slot] = i;
}

static void heap_remove(route_engine *e, hent *h, uint32_t *n, uint32_t i)
{
    if (i != --*n) {
        h[i] = h[*n];
        heap_fix(e, h, *n, i);
    }
}

/* --- timer heaps (lazy: stale entries are skipped when they surface) ------- */

static inline bool tent_before(const tent *a, const tent *b)
{
    return a->due != b->due ? a->due < b->due : a->id < b->id;
}

/* The timer heaps are 4-ary: half the depth of a binary heap, and the four
 * children of a node share one or two cache lines. */
#define TARITY 4

static void theap_down(tent *h, uint32_t n, uint32_t i)
{
    tent x = h[i];
    for (;;) {
        uint32_t c = TARITY * i + 1, end = c + TARITY < n ? c + TARITY : n;
        if (c >= n)
            break;
        for (uint32_t j = c + 1; j < end; j++)
            if (tent_before(&h[j], &h[c]))
                c = j;
        if (!tent_before(&h[c], &x))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void theap_pop(tent *h, uint32_t *n)
{
    if (--*n) {
        h[0] = h[*n];
        theap_down(h, *n, 0);
    }
}

static bool timer_live(const route_engine *e, const tent *t)
{
    return e->tgen[T_KINDS * (size_t)t->slot + (t->kind & 3)] == t->gen; /* freed: moved on */
}

static bool wrap_live(const route_engine *e, const tent *t)
{
    return e->agents[t->slot].wgen == t->gen;
}

/* Drops stale entries and re-heapifies. The wrap-up heap is sized at twice
 * the agents (one live entry each), so compacting it always makes room; the
 * item timer heap has room reserved by timer_room() before timers are set. */
static void theap_compact(route_engine *e, tent *h, uint32_t *n,
                          bool (*live)(const route_engine *, const tent *))
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < *n; i++)
        if (live(e, &h[i]))
            h[k++] = h[i];
    *n = k;
    for (uint32_t i = k > 1 ? (k - 2) / TARITY + 1 : 0; i-- > 0;) /* from the last parent */
        theap_down(h, k, i);
}

static void theap_push(tent *h, uint32_t *n, tent t)
{
    uint32_t i = (*n)++;
    while (i > 0 && tent_before(&t, &h[(i - 1) / TARITY])) {
        h[i] = h[(i - 1) / TARITY];
        i = (i - 1) / TARITY;
    }
    h[i] = t;
}

/* Appends to a lane, keeping (due, id) order; false when out of memory. */
static bool lane_push(route_engine *e, lane *l, tent t)
{
    if (l->n == l->cap) {
        uint32_t nc = l->cap ? l->cap * 2 : 64;
        tent *r = nc > (1u << 30) ? NULL : cd_malloc((size_t)nc * sizeof(tent));
        if (!r)
            return false;
        cd_mem_hint_huge(r, (size_t)nc * sizeof(tent));
        for (uint32_t i = 0; i < l->n; i++)
            r[i] = l->ring[(l->head + i) & (l->cap - 1)];
        cd_free(l->ring);
        e->bytes += (size_t)(nc - l->cap) * sizeof(tent);
        l->ring = r;
        l->head = 0;
        l->cap = nc;
    }
    uint32_t mask = l->cap - 1, i = l->n++;
    for (; i > 0; i--) { /* set at the same moment: only equal dues can be out of order */
        const tent *p = &l->ring[(l->head + i - 1) & mask];
        if (!tent_before(&t, p))
            break;
        l->ring[(l->head + i) & mask] = *p;
    }
    l->ring[(l->head + i) & mask] = t;
    e->lane_due[l - e->lanes] = l->ring[l->head].due;
    e->lane_id[l - e->lanes] = l->ring[l->head].id;
    return true;
}

/* Files an item timer: in the lane of its delay (taking an empty lane if
 * none has it), else in the heap. */
static void timer_push(route_engine *e, tent t)
{
    int64_t delay = t.due - e->now; /* > LANE_EMPTY: 0 <= due, now <= MAX_TIME */
    if (t.due < e->tnext)
        e->tnext = t.due;
    int i = 0;
    while (i < LANES && e->lane_delay[i] != delay)
        i++;
    if (i == LANES) { /* claim an empty lane */
        for (i = 0; i < LANES && e->lane_delay[i] != LANE_EMPTY; i++)
            ;
        if (i < LANES) {
            e->lane_delay[i] = delay;
            e->lanes[i].head = 0;
        }
    }
    if (i < LANES) {
        if (lane_push(e, &e->lanes[i], t))
            return;
        if (!e->lanes[i].n)
            e->lane_delay[i] = LANE_EMPTY;
    }
    theap_push(e->timers, &e->ntimers, t); /* room reserved by timer_room() */
}

/* Room in the timer heap for k more entries: every item timer entry may end
 * up there when no lane takes it, so each path that sets timers reserves
 * first. Stale entries are dropped before the heap grows; it grows when more
 * than half stays live, so that compaction pays for itself. */
static int timer_room(route_engine *e, uint32_t k)
{
    if (e->ntimers + k <= e->captimers)
        return 0;
    theap_compact(e, e->timers, &e->ntimers, timer_live);
    if (e->ntimers + k <= e->captimers / 2)
        return 0;
    return grow(e, (void **)&e->timers, &e->captimers, 2 * (e->ntimers + k), sizeof(tent));
}

/* The first item timer entry by (due, id), or NULL; *from is its lane
 * (NULL: the heap). */
static const tent *timer_first(const route_engine *e, const lane **from)
{
    int64_t due = NEVER, id = INT64_MAX;
    int at = -1; /* -1: the heap */
    if (e->ntimers) {
        due = e->timers[0].due;
        id = e->timers[0].id;
    }
    for (int i = 0; i < LANES; i++) { /* one pass over the heads' (due, id) */
        int64_t d = e->lane_due[i], k = e->lane_id[i];
        if (d < due || (d == due && k < id)) {
            due = d;
            id = k;
            at = i;
        }
    }
    *from = at < 0 ? NULL : &e->lanes[at];
    if (due == NEVER)
        return NULL;
    return at < 0 ? &e->timers[0] : &e->lanes[at].ring[e->lanes[at].head];
}

static void timer_drop_first(route_engine *e, const lane *from)
{
    if (!from) {
        theap_pop(e->timers, &e->ntimers);
        return;
    }
    lane *l = &e->lanes[from - e->lanes];
    l->head = (l->head + 1) & (l->cap - 1);
    l->n--;
    e->lane_due[from - e->lanes] = l->n ? l->ring[l->head].due : NEVER;
    e->lane_id[from - e->lanes] = l->n ? l->ring[l->head].id : INT64_MAX;
#ifndef ROUTE_NO_PREFETCH
    /* The lane's next entries come due soon: fetch the item of the one after
     * next meanwhile (a step's entry reads none, see T_STEP). */
    const tent *h = l->n > 1 ? &l->ring[(l->head + 1) & (l->cap - 1)] : NULL;
    if (h && (h->kind & 3) != T_STEP) {
        __builtin_prefetch(&e->tgen[T_KINDS * (size_t)h->slot]);
        __builtin_prefetch(&e->items[h->slot]);
        __builtin_prefetch((const char *)&e->items[h->slot] + 64);
        __builtin_prefetch((const char *)&e->items[h->slot] + 128);
        __builtin_prefetch(&e->ipos[h->slot]);
    }
#endif
    if (!l->n)
        e->lane_delay[from - e->lanes] = LANE_EMPTY;
}

/* Sets the waiting timer of item s (NEVER: none); one already set for
 * that moment stays. */
static void set_timer(route_engine *e, uint32_t s, int64_t due)
{
    item *it = &e->items[s];
    if (due == it->due)
        return;
    uint64_t gen = e->tgen[T_KINDS * (size_t)s + T_WAIT] = ++e->gen;
    it->due = due;
    if (due == NEVER)
        return;
    timer_push(e, (tent){due, it->id, gen, s, T_WAIT});
}

/* Sets the offer timer of item s (NEVER: none). */
static void set_offer_timer(route_engine *e, uint32_t s, int64_t due)
{
    uint64_t gen = e->tgen[T_KINDS * (size_t)s + T_OFFER] = ++e->gen;
    if (due != NEVER)
        timer_push(e, (tent){due, e->items[s].id, gen, s, T_OFFER});
}

/* Forgets every timer of item s: their entries are stale from now on. */
static void clear_timers(route_engine *e, uint32_t s)
{
    for (int k = 0; k < T_KINDS; k++)
        e->tgen[T_KINDS * (size_t)s + k] = ++e->gen;
    e->items[s].due = NEVER;
    e->items[s].sched = 0;
}

static void set_wrap_timer(route_engine *e, uint32_t as, int64_t due)
{
    agent *a = &e->agents[as];
    a->wgen = ++e->gen;
    if (due == NEVER)
        return;
    if (e->nwraps == e->capwraps)
        theap_compact(e, e->wraps, &e->nwraps, wrap_live);
    theap_push(e->wraps, &e->nwraps, (tent){due, a->id, a->wgen, as, 0});
}

/* --- decisions ------------------------------------------------------------ */

static int log_reserve(route_engine *e, size_t extra)
{
    if (e->loghead > 0 && e->loghead == e->logn)
        e->loghead = e->logn = 0;
    if (e->logn + extra <= e->logcap)
        return 0;
    size_t nc = e->logcap ? e->logcap * 2 : 64;
    while (nc < e->logn + extra)
        nc *= 2;
    route_decision *p = cd_realloc(e->log, nc * sizeof *p);
    if (!p)
        return CD_ENOMEM;
    e->bytes += (nc - e->logcap) * sizeof *p;
    e->log = p;
    e->logcap = nc;
    return 0;
}

static void log_add(route_engine *e, route_decision_kind kind, const item *it, const agent *a,
                    int64_t expires)
{
    route_decision *d = &e->log[e->logn++]; /* room reserved by the caller */
    d->kind = kind;
    d->interaction_id = it ? it->id : 0;
    d->agent_id = a ? a->id : 0;
    d->queue_id = it ? e->queues[it->queue].cfg.id : 0;
    d->at_ms = e->now;
    d->expires_ms = expires;
}

/* --- agents: capacity and the free sets ----------------------------------- */

static inline bool fits(const agent *a, int ch)
{
    if (a->nvoice || a->used + a->weight[ch] > ROUTE_CAPACITY)
        return false;
    return ch != ROUTE_VOICE || a->used == 0;
}

/* The channels that fit(), as bits. */
static unsigned fit_mask(const agent *a)
{
    if (a->state != ROUTE_AVAILABLE || a->nvoice)
        return 0;
    int room = ROUTE_CAPACITY - a->used;
    unsigned m = 0;
    for (int ch = 0; ch < ROUTE_CHANNELS; ch++)
        m |= (unsigned)(a->weight[ch] <= room) << ch;
    return a->used ? m & ~(1u << ROUTE_VOICE) : m;
}

static int client_index(const agent *a, uint32_t cs)
{
    for (int i = 0; i < a->nclients; i++)
        if (a->clients[i] == cs)
            return i;
    return -1;
}

static inline bool bit_get(const uint64_t *w, uint32_t p)
{
    return w[p / 64] >> (p % 64) & 1;
}

static inline void bit_set(uint64_t *w, uint32_t p)
{
    w[p / 64] |= 1ULL << (p % 64);
}

static inline void bit_clear(uint64_t *w, uint32_t p)
{
    w[p / 64] &= ~(1ULL << (p % 64));
}

static void free_set_remove(route_engine *e, uint32_t as, int ch)
{
    agent *a = &e->agents[as];
    for (int i = 0; i < a->nclients; i++) {
        client *c = &e->clients[a->clients[i]];
        bit_clear(c->free[ch], a->cpos[i]);
        c->nfree[ch]--;
    }
    a->free_mask &= (uint8_t) ~(1u << ch);
}

/* The idle criterion as one number, lower first: agents without work, then
 * the earliest idle_since (0 <= idle_since <= MAX_TIME < 2^62). */
static inline uint64_t idle_key(const agent *a)
{
    return (uint64_t)(a->used > 0) << 62 | (uint64_t)a->idle_since;
}

/* Keeps the agent's membership of its clients' free sets, and the idle key
 * of its entries, up to date. */
static void agent_refresh(route_engine *e, uint32_t as)
{
    agent *a = &e->agents[as];
    unsigned want = fit_mask(a), diff = want ^ a->free_mask;
    uint64_t key = idle_key(a);
    if (key != a->idle) {
        a->idle = key;
        for (int i = 0; i < a->nclients; i++)
            e->clients[a->clients[i]].ents[a->cpos[i]].idle = key;
    }
    if (!diff)
        return;
    for (int i = 0; i < a->nclients; i++) {
        client *c = &e->clients[a->clients[i]];
        uint32_t w = a->cpos[i] / 64;
        uint64_t bit = 1ULL << (a->cpos[i] % 64);
        for (unsigned m = diff; m; m &= m - 1) {
            int ch = __builtin_ctz(m);
            c->free[ch][w] ^= bit;
            c->nfree[ch] += want >> ch & 1 ? 1 : (uint32_t)-1;
        }
    }
    a->free_mask = (uint8_t)want;
}

static void mark_agent(route_engine *e, uint32_t as)
{
    agent *a = &e->agents[as];
    if (!a->dirty && a->state == ROUTE_AVAILABLE) {
        a->dirty = 1;
        e->dirty_agents[e->ndirty_agents++] = as;
    }
}

static void mark_item(route_engine *e, uint32_t s)
{
    item *it = &e->items[s];
    if (!it->dirty) {
        it->dirty = 1;
        e->dirty_items[e->ndirty_items++] = s;
    }
}

/* Marks an item that was just placed (arrived or reached a timer) dirty,
 * unless no agent of its client is free on its channel: then nobody may take
 * it now, and an agent that frees up later in this event is dirty itself
 * and pulls, seeing the item as it is. So nothing is lost, and settling
 * skips the items of a busy contact center. */
static void mark_placed(route_engine *e, uint32_t s)
{
    const item *it = &e->items[s];
    if ((it->at == AT_HEAP || it->at == AT_PREF) && !e->clients[it->client].nfree[it->channel])
        return;
    mark_item(e, s);
}

static bool serves(const agent *a, uint32_t cs)
{
    return client_index(a, cs) >= 0;
}

/* Does the agent hold every (skill, level) of the ascending list? */
static bool meets(const agent *a, const uint32_t *rs, const uint8_t *rl, int n)
{
    int j = 0;
    for (int i = 0; i < n; i++) {
        while (j < a->nskills && a->skill[j] < rs[i])
            j++;
        if (j == a->nskills || a->skill[j] != rs[i] || a->level[j] < rl[i])
            return false;
        j++;
    }
    return true;
}

static int agent_level(const agent *a, uint32_t skill)
{
    int lo = 0, hi = a->nskills;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (a->skill[mid] < skill)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < a->nskills && a->skill[lo] == skill ? a->level[lo] : 0;
}

/* Does the level vector meet every required level of `need`? Fields hold
 * 0..5, so (lv | 8) - need never borrows across fields and keeps a field's
 * high bit exactly when the level is high enough. */
static inline bool lv_meets(const uint64_t *lv, const uint64_t *need)
{
    return (((lv[0] | NIB_HIGH) - need[0]) & ((lv[1] | NIB_HIGH) - need[1]) & NIB_HIGH) == NIB_HIGH;
}

static inline int nib_sum(uint64_t x)
{
    x = (x & 0x0F0F0F0F0F0F0F0FULL) + (x >> 4 & 0x0F0F0F0F0F0F0F0FULL); /* bytes <= 10 */
    return (int)((x * 0x0101010101010101ULL) >> 56);
}

/* Match points from a level vector: the sum of the fields under `mask`. */
static inline int lv_match(const uint64_t *lv, const uint64_t *mask)
{
    return nib_sum(lv[0] & mask[0]) + nib_sum(lv[1] & mask[1]);
}

static int local_index(const client *c, uint32_t skill)
{
    for (uint32_t l = 0; l < c->nlocal; l++)
        if (c->local[l] == skill)
            return (int)l;
    return -1;
}

static inline void lv_set(uint64_t *lv, int l, uint64_t v)
{
    lv[l / 16] |= v << (l % 16 * 4);
}

/* Marks entry `pos` in the client's skill bitmaps with the levels lv. */
static void skill_bits_set(client *c, uint32_t pos, const uint64_t *lv)
{
    uint64_t *w = c->skill_bits + (size_t)(pos / 64) * SKILL_BITS, bit = 1ULL << (pos % 64);
    for (uint32_t l = 0; l < c->nlocal; l++) {
        unsigned lvl = (unsigned)(lv[l / 16] >> (l % 16 * 4) & 0xF);
        for (unsigned v = 0; v < lvl; v++)
            w[l * 5 + v] |= bit;
    }
}

static void skill_bits_clear(client *c, uint32_t pos)
{
    uint64_t *w = c->skill_bits + (size_t)(pos / 64) * SKILL_BITS, bit = ~(1ULL << (pos % 64));
    for (int k = 0; k < SKILL_BITS; k++)
        w[k] &= bit;
}

/* The agent's levels on the local skills of its ci-th client. */
static void agent_local_levels(const route_engine *e, agent *a, int ci)
{
    const client *c = &e->clients[a->clients[ci]];
    a->lv[ci][0] = a->lv[ci][1] = 0;
    for (uint32_t l = 0; l < c->nlocal; l++)
        lv_set(a->lv[ci], (int)l, (uint64_t)agent_level(a, c->local[l]));
}

/* The skill's local index for the client (-1: no room left), numbering it
 * on first sight: every agent serving the client, and its entry there,
 * learn their level. */
static int client_learn(route_engine *e, uint32_t cs, uint32_t skill)
{
    client *c = &e->clients[cs];
    int l = local_index(c, skill);
    if (l >= 0 || c->nlocal == LOCAL_SKILLS)
        return l;
    l = (int)c->nlocal;
    c->local[c->nlocal++] = skill;
    for (uint32_t as = 0; as < e->nagents; as++) {
        agent *a = &e->agents[as];
        int ci = client_index(a, cs), lvl = ci < 0 ? 0 : agent_level(a, skill);
        if (!lvl)
            continue;
        lv_set(a->lv[ci], l, (uint64_t)lvl);
        memcpy(c->ents[a->cpos[ci]].lv, a->lv[ci], sizeof a->lv[ci]);
        uint64_t bit = 1ULL << (a->cpos[ci] % 64);
        for (int v = 0; v < lvl; v++)
            c->skill_bits[(size_t)(a->cpos[ci] / 64) * SKILL_BITS + (size_t)l * 5 + v] |= bit;
    }
    return l;
}

/* --- items: score, requirements, placement --------------------------------- */

/* The static key: 1000 * score(now) - aging * now, the same for all `now`. */
static int64_t item_key(const queue *q, const item *it)
{
    int64_t base = (int64_t)q->cfg.urgency_points[it->urgency] + q->cfg.tier_points[it->tier];
    return base * 1000 - (int64_t)q->cfg.aging_points_per_s * it->arrived;
}

static bool excluded(const item *it, int64_t agent_id)
{
    for (uint32_t i = 0; i < it->nexcl; i++)
        if (it->excl[i] == agent_id)
            return true;
    return false;
}

static int current_step(const queue *q, int64_t entered, int64_t now)
{
    int s = 0;
    while (s < q->cfg.nsteps && entered + q->cfg.steps[s].after_s * 1000LL <= now)
        s++;
    return s;
}

/* The requirements at widening step `step`, ascending by skill index. */
static int current_req(const queue *q, const item *it, int step, uint32_t *rs, uint8_t *rl)
{
    int n = it->nreq, relax = 0;
    if (step > 0) {
        const route_step *st = &q->cfg.steps[step - 1];
        if (st->keep < n)
            n = st->keep;
        relax = st->relax;
    }
    for (int i = 0; i < n; i++) {
        int lv = it->req_level[i] - relax;
        uint32_t sk = it->req_skill[i];
        int j = i;
        for (; j > 0 && rs[j - 1] > sk; j--) {
            rs[j] = rs[j - 1];
            rl[j] = rl[j - 1];
        }
        rs[j] = sk;
        rl[j] = (uint8_t)(lv < 1 ? 1 : lv);
    }
    return n;
}

/* The required levels at widening step `step`, as client-local fields,
 * from packed requirements (local skill << 3 | level, most important first). */
static inline void packed_need(const queue *q, const uint8_t *req, int nreq, int step,
                               uint64_t *need)
{
    int n = nreq, relax = 0;
    if (step > 0) {
        const route_step *st = &q->cfg.steps[step - 1];
        if (st->keep < n)
            n = st->keep;
        relax = st->relax;
    }
    need[0] = need[1] = 0;
    for (int i = 0; i < n; i++) {
        int lv = (req[i] & 7) - relax;
        lv_set(need, req[i] >> 3, (uint64_t)(lv < 1 ? 1 : lv));
    }
}

static inline int item_step(const route_engine *e, const item *it)
{
    return current_step(&e->queues[it->queue], it->entered, e->now);
}

/* What a local item requires now, as client-local fields. */
static void item_need(const route_engine *e, const item *it, uint64_t *need)
{
    packed_need(&e->queues[it->queue], it->req_pack, it->nreq, item_step(e, it), need);
}

static hent item_entry(const item *it, uint32_t s)
{
    hent h = {.key = it->key, .entered = it->entered, .slot = s, .nreq = it->nreq};
    h.flags = (uint8_t)((it->nexcl > 0 ? HENT_EXCL : 0) | (it->local ? 0 : HENT_GENERAL));
    memcpy(h.req, it->req_pack, sizeof h.req);
    return h;
}

/* Takes a waiting item out of wherever it is kept. */
static void unplace(route_engine *e, uint32_t s)
{
    item *it = &e->items[s];
    if (it->at == AT_HEAP) {
        queue *q = &e->queues[it->queue];
        heap_remove(e, q->heap[it->channel], &q->n[it->channel], e->ipos[s]);
        if (!q->n[it->channel])
            q->held &= ~(1u << it->channel);
        else
            q->top[it->channel] = q->heap[it->channel][0].key;
    } else if (it->at == AT_PREF) {
        agent *a = &e->agents[it->pref];
        uint32_t pos = e->ipos[s], last = a->pref[--a->npref];
        a->pref[pos] = last;
        e->ipos[last] = pos;
    }
    /* AT_LIMBO items stay listed; place() skips those no longer in limbo */
    it->at = AT_NONE;
}

/* When the waiting item's place changes next (overflow, its window's end);
 * widening steps have timers of their own. */
static int64_t waiting_due(const queue *q, const item *it)
{
    int64_t due = NEVER;
    if (q->cfg.overflow_after_s > 0) {
        int64_t o = it->entered + q->cfg.overflow_after_s * 1000LL;
        due = o < due ? o : due;
    }
    if (it->window && it->window_end < due)
        due = it->window_end;
    return due;
}

/* For an offered item, the next moment after now at which its place would
 * change (overflow, its window's end), or NEVER: the waiting timer runs on
 * while an offer is open, so that an item that comes back usually finds it
 * set for the moment place() asks for. */
static int64_t offered_due(const queue *q, const item *it, int64_t now)
{
    int64_t due = NEVER;
    if (q->cfg.overflow_after_s > 0) {
        int64_t o = it->entered + q->cfg.overflow_after_s * 1000LL;
        due = o > now && o < due ? o : due;
    }
    if (it->pref != NONE && it->window_end > now && it->window_end < due)
        due = it->window_end;
    return due;
}

/* Sets the T_STEP timers of item s for its current queue and entry time. */
static void set_step_timers(route_engine *e, uint32_t s)
{
    item *it = &e->items[s];
    const queue *q = &e->queues[it->queue];
    uint64_t gen = e->tgen[T_KINDS * (size_t)s + T_STEP] = ++e->gen;
    uint32_t tag = T_STEP | (it->client < (1u << 27) ? it->client << 5 | (uint32_t)it->channel << 2
                                                     : (uint32_t)T_NOCLIENT << 2);
    for (int k = 0; k < q->cfg.nsteps; k++) {
        int64_t due = it->entered + q->cfg.steps[k].after_s * 1000LL;
        if (due > e->now)
            timer_push(e, (tent){due, it->id, gen, s, tag});
    }
    it->sched = 1;
}

/* Puts a waiting item where it belongs at e->now: overflowed if its queue's
 * overflow time has come, in its preferred agent's list while the window is
 * open, else in its queue's heap for its channel (where widening moves
 * nothing: the entry has what the step follows from). Memory is reserved
 * before anything moves: on CD_ENOMEM the item keeps its place (an item that
 * had none goes to limbo, retried at the next event). */
static int place(route_engine *e, uint32_t s)
{
    item *it = &e->items[s];
    uint32_t qs = it->queue;
    int64_t entered = it->entered, now = e->now;
    int ch = it->channel;
    const queue *q = &e->queues[qs];
    bool ovf = q->cfg.overflow_after_s > 0 && now >= entered + q->cfg.overflow_after_s * 1000LL;
    if (ovf) { /* validated at configuration: the target exists, same client */
        qs = map_get(&e->queue_ids, q->cfg.overflow_queue);
        entered = now;
        q = &e->queues[qs];
    }
    bool window = it->pref != NONE && now < it->window_end && !excluded(it, e->agents[it->pref].id);
    bool same = !ovf && (window ? it->at == AT_PREF : it->at == AT_HEAP);
    int rc = timer_room(e, (uint32_t)q->cfg.nsteps + 1);
    if (!rc && !same) {
        if (window) {
            agent *a = &e->agents[it->pref];
            rc = grow(e, (void **)&a->pref, &a->cappref, a->npref + 1, sizeof(uint32_t));
        } else {
            queue *t = &e->queues[qs];
            rc = grow(e, (void **)&t->heap[ch], &t->cap[ch], t->n[ch] + 1, sizeof(hent));
        }
    }
    if (!rc && ovf)
        rc = log_reserve(e, 1);
    if (rc) {
        if (it->at == AT_NONE) {
            it->at = AT_LIMBO;
            e->limbo[e->nlimbo++] = s;
        }
        return rc;
    }
    if (!same) {
        unplace(e, s);
        if (ovf) {
            e->queues[it->queue].waiting--;
            it->queue = qs;
            it->entered = entered;
            it->sched = 0;
            it->key = item_key(q, it);
            e->queues[qs].waiting++;
            log_add(e, ROUTE_D_OVERFLOW, it, NULL, 0);
        }
        if (window) {
            agent *a = &e->agents[it->pref];
            e->ipos[s] = a->npref;
            a->pref[a->npref++] = s;
            it->at = AT_PREF;
        } else {
            queue *t = &e->queues[qs];
            uint32_t pos = t->n[ch]++;
            t->heap[ch][pos] = item_entry(it, s);
            heap_fix(e, t->heap[ch], t->n[ch], pos);
            t->top[ch] = t->heap[ch][0].key;
            t->held |= 1u << ch;
            it->at = AT_HEAP;
        }
    }
    it->window = window;
    if (!it->sched)
        set_step_timers(e, s);
    set_timer(e, s, waiting_due(q, it));
    return 0;
}

/* --- matching ---------------------------------------------------------------- */

/* Does item x, of this score, beat the best so far? Ties of scores go to
 * the earlier arrival, then the lower id: only then are records read. */
static inline bool beats(const route_engine *e, int64_t score, const item *x, const best *b)
{
    if (b->slot == NONE)
        return true;
    if (score != b->score)
        return score > b->score;
    const item *y = &e->items[b->slot];
    if (x->arrived != y->arrived)
        return x->arrived < y->arrived;
    return x->id < y->id;
}

/* Does an entry with this score beat the best so far? Its item is read
 * only on a tie of scores. */
static inline bool entry_beats(const route_engine *e, int64_t score, const hent *h, const best *b)
{
    if (b->slot == NONE || score != b->score)
        return b->slot == NONE || score > b->score;
    return beats(e, score, &e->items[h->slot], b);
}

/* An item's requirements at its current step as an ascending list, and
 * their signature (bit skill index % 64 of each). */
typedef struct reqs {
    uint32_t rs[ROUTE_MAX_REQUIRED];
    uint8_t rl[ROUTE_MAX_REQUIRED];
    int n;
    uint64_t sig;
} reqs;

static void reqs_of(const route_engine *e, const item *it, reqs *r)
{
    r->n = current_req(&e->queues[it->queue], it, item_step(e, it), r->rs, r->rl);
    r->sig = 0;
    for (int i = 0; i < r->n; i++)
        r->sig |= 1ULL << (r->rs[i] % 64);
}

/* Does the agent meet the requirements? The signature rejects most agents
 * without reading their skills. */
static inline bool meets_reqs(const agent *a, const reqs *r)
{
    return (r->sig & ~a->sig) == 0 && meets(a, r->rs, r->rl, r->n);
}

/* Does the agent hold what the waiting item requires at its current step?
 * (lv: the agent's levels on the local skills of the item's client.) */
static bool meets_item(const route_engine *e, const agent *a, const uint64_t *lv, const item *it)
{
    if (it->local) {
        uint64_t need[2];
        item_need(e, it, need);
        return lv_meets(lv, need);
    }
    reqs r;
    reqs_of(e, it, &r);
    return meets_reqs(a, &r);
}

/* Best-first walk of a queue's heap: an entry that cannot beat the best so
 * far prunes its subtree; one the agent may not take is skipped, its
 * children not. The entry says what the item requires at this step: its
 * record is read only for exclusions, ties and skills its client could not
 * number. */
static void visit(const route_engine *e, const queue *q, const hent *h, uint32_t n, uint32_t i,
                  int64_t aging_now, const agent *a, const uint64_t *lv, best *b)
{
    while (i < n) {
        const hent *x = &h[i];
        if (!entry_beats(e, x->key + aging_now, x, b))
            return;
        bool ok;
        if (x->flags & HENT_GENERAL) {
            ok = meets_item(e, a, lv, &e->items[x->slot]);
        } else {
            uint64_t need[2];
            packed_need(q, x->req, x->nreq, current_step(q, x->entered, e->now), need);
            ok = lv_meets(lv, need);
        }
        if (ok && (!(x->flags & HENT_EXCL) || !excluded(&e->items[x->slot], a->id))) {
            *b = (best){x->slot, x->key + aging_now};
            return;
        }
        visit(e, q, h, n, 2 * i + 1, aging_now, a, lv, b);
        i = 2 * i + 2;
    }
}

/* Can the agent take this waiting item now (all rules but the window)? */
static bool can_take(const route_engine *e, const agent *a, const item *it)
{
    if (a->state != ROUTE_AVAILABLE || !fits(a, it->channel))
        return false;
    int ci = client_index(a, it->client);
    if (ci < 0 || (it->nexcl && excluded(it, a->id)))
        return false;
    return meets_item(e, a, a->lv[ci], it);
}

/* The agent's first choice: the highest-scored waiting item it may take.
 * `seed` (NONE or an item the agent may take) starts the search as the best
 * so far, so that only what beats it is looked at; the answer is the same. */
static uint32_t pull(const route_engine *e, uint32_t as, uint32_t seed)
{
    const agent *a = &e->agents[as];
    unsigned fit = fit_mask(a);
    best b = {NONE, 0};
    if (!fit)
        return NONE;
    if (seed != NONE) { /* only what beats it needs a look */
        const item *it = &e->items[seed];
        int64_t score = it->key + (int64_t)e->queues[it->queue].cfg.aging_points_per_s * e->now;
        b = (best){seed, score};
    }
    for (uint32_t i = 0; i < a->npref; i++) {
        const item *it = &e->items[a->pref[i]];
        int64_t score = it->key + (int64_t)e->queues[it->queue].cfg.aging_points_per_s * e->now;
        if (beats(e, score, it, &b) && can_take(e, a, it))
            b = (best){a->pref[i], score};
    }
    for (int ci = 0; ci < a->nclients; ci++) {
        const client *c = &e->clients[a->clients[ci]];
        for (uint32_t qi = 0; qi < c->nqueues; qi++) {
            const queue *q = &e->queues[c->queues[qi]];
            unsigned chans = fit & q->held;
            if (!chans)
                continue;
            int64_t aging_now = (int64_t)q->aging * e->now;
            for (unsigned m = chans; m; m &= m - 1) {
                int ch = __builtin_ctz(m);
                if (b.slot == NONE ||
                    q->top[ch] + aging_now >= b.score) /* else pruned at the root */
                    visit(e, q, q->heap[ch], q->n[ch], 0, aging_now, a, a->lv[ci], &b);
            }
        }
    }
    return b.slot;
}

static int match_points(const agent *a, const item *it)
{
    int sum = 0;
    for (int i = 0; i < it->nreq; i++)
        if (a->sig >> (it->req_skill[i] % 64) & 1)
            sum += agent_level(a, it->req_skill[i]);
    return sum;
}

/* A candidate of best_of: match points are computed only when a
 * comparison reaches that criterion (-1: not yet). */
typedef struct cand {
    const agent *a;
    int m;
} cand;

static inline int cand_match(cand *c, const item *it)
{
    if (c->m < 0)
        c->m = match_points(c->a, it);
    return c->m;
}

/* Is candidate x a better choice than y by the queue's criteria? Ties end
 * at the lower id. */
static bool agent_before(const route_queue *cfg, const item *it, cand *x, cand *y)
{
    const agent *xa = x->a, *ya = y->a;
    for (int k = 0; k < 3; k++) {
        switch (cfg->order[k]) {
        case ROUTE_BY_MATCH: {
            int xm = cand_match(x, it), ym = cand_match(y, it);
            if (xm != ym)
                return xm > ym;
            break;
        }
        case ROUTE_BY_IDLE:
            if ((xa->used > 0) != (ya->used > 0))
                return xa->used == 0;
            if (xa->idle_since != ya->idle_since)
                return xa->idle_since < ya->idle_since;
            break;
        case ROUTE_BY_HANDLED:
            if (xa->handled != ya->handled)
                return xa->handled < ya->handled;
            break;
        }
    }
    return xa->id < ya->id;
}

/* Offers eligible candidate `as` to the running best of best_of. */
static inline void best_consider(const route_engine *e, const item *it, const route_queue *cfg,
                                 uint32_t as, uint32_t *best_as, cand *best_c)
{
    const agent *a = &e->agents[as];
    if (it->nexcl && excluded(it, a->id))
        return;
    cand c = {a, -1};
    if (*best_as == NONE || agent_before(cfg, it, &c, best_c)) {
        *best_as = as;
        *best_c = c;
    }
}

/* Among the free agents of the item's client on its channel, the best
 * eligible one by the queue's criteria, for an item needing a skill its
 * client could not number. Free-set membership already says available,
 * serving the client and with room on the channel. */
static uint32_t best_of_free(const route_engine *e, const item *it, const client *c)
{
    const route_queue *cfg = &e->queues[it->queue].cfg;
    const uint64_t *bits = c->free[it->channel];
    uint32_t best_as = NONE, nw = (c->nents + 63) / 64;
    cand best_c = {NULL, -1};
    reqs r;
    reqs_of(e, it, &r);
    for (uint32_t w = 0; w < nw; w++)
        for (uint64_t m = bits[w]; m; m &= m - 1) {
            uint32_t as = c->ents[w * 64 + (uint32_t)__builtin_ctzll(m)].slot;
            if (meets_reqs(&e->agents[as], &r))
                best_consider(e, it, cfg, as, &best_as, &best_c);
        }
    return best_as;
}

/* A candidate of best_of_local: its match points and idle key come from the
 * client's entry; the agent is read only for the later criteria. */
typedef struct lcand {
    uint32_t slot;
    int m;
    uint64_t idle;
} lcand;

static bool lcand_before(const route_engine *e, const route_queue *cfg, const lcand *x,
                         const lcand *y)
{
    for (int k = 0; k < 3; k++) {
        switch (cfg->order[k]) {
        case ROUTE_BY_MATCH:
            if (x->m != y->m)
                return x->m > y->m;
            break;
        case ROUTE_BY_IDLE:
            if (x->idle != y->idle)
                return x->idle < y->idle;
            break;
        case ROUTE_BY_HANDLED: {
            uint32_t xh = e->agents[x->slot].handled, yh = e->agents[y->slot].handled;
            if (xh != yh)
                return xh < yh;
            break;
        }
        }
    }
    return e->agents[x->slot].id < e->agents[y->slot].id;
}

/* best_of_free for an item whose skills are all local to its client: the
 * level vectors of the entries decide eligibility and match points. */
static uint32_t best_of_local(const route_engine *e, const item *it, const client *cl)
{
    const route_queue *cfg = &e->queues[it->queue].cfg;
    uint64_t need[2];
    item_need(e, it, need);
    const uint64_t n0 = need[0], n1 = need[1], m0 = it->mmask[0], m1 = it->mmask[1];
    const uint64_t *bits = cl->free[it->channel];
    uint32_t nw = (cl->nents + 63) / 64, req[LOCAL_SKILLS];
    int nr = 0;
    for (int h = 0; h < 2; h++) { /* the skill bitmaps to intersect: one per required level */
        uint64_t x = h ? n1 : n0;
        while (x) {
            int f = __builtin_ctzll(x) / 4;
            req[nr++] = (uint32_t)(h * 16 + f) * 5 + (uint32_t)(x >> (f * 4) & 0xF) - 1;
            x &= ~(0xFULL << (f * 4));
        }
    }
    lcand top = {NONE, 0, 0};
    for (uint32_t w = 0; w < nw; w++) {
        uint64_t cands = bits[w];
        const uint64_t *sb = cl->skill_bits + (size_t)w * SKILL_BITS;
        for (int r = 0; r < nr && cands; r++)
            cands &= sb[req[r]];
        for (uint64_t m = cands; m; m &= m - 1) {
            const fent *x = &cl->ents[w * 64 + (uint32_t)__builtin_ctzll(m)];
            if ((((x->lv[0] | NIB_HIGH) - n0) & ((x->lv[1] | NIB_HIGH) - n1) & NIB_HIGH) !=
                NIB_HIGH)
                continue;
            lcand c = {x->slot, nib_sum(x->lv[0] & m0) + nib_sum(x->lv[1] & m1), x->idle};
            if (top.slot != NONE && !lcand_before(e, cfg, &c, &top))
                continue;
            if (it->nexcl && excluded(it, e->agents[c.slot].id))
                continue;
            top = c;
        }
    }
    return top.slot;
}

/* Among the agents still to settle, the best eligible one. */
static uint32_t best_of_dirty(const route_engine *e, const item *it, const uint32_t *cands,
                              uint32_t n)
{
    const route_queue *cfg = &e->queues[it->queue].cfg;
    uint32_t best_as = NONE;
    cand best_c = {NULL, -1};
    reqs r;
    uint64_t need[2];
    if (it->local)
        item_need(e, it, need);
    else
        reqs_of(e, it, &r);
    for (uint32_t i = 0; i < n; i++) {
        const agent *a = &e->agents[cands[i]];
        if (a->state != ROUTE_AVAILABLE || !fits(a, it->channel))
            continue;
        int ci = client_index(a, it->client);
        if (ci < 0 || !(it->local ? lv_meets(a->lv[ci], need) : meets_reqs(a, &r)))
            continue;
        best_consider(e, it, cfg, cands[i], &best_as, &best_c);
    }
    return best_as;
}

/* The item's first choice: its best eligible free agent (NONE: nobody).
 *
 * A shortcut follows from the invariant "before the event, no free agent
 * could take any waiting item": every pair made possible since involves a
 * dirty agent or a dirty item. While dirty agents settle (first), an item
 * that is not dirty can only go to a dirty agent not yet settled (settled
 * ones found nothing, and matching only ever takes capacity away). Else the
 * client's free agents on the channel are scanned (their entries are
 * compact, a bitmap says which). The property tests check the result
 * against a full scan. */
static uint32_t best_agent(const route_engine *e, uint32_t s)
{
    const item *it = &e->items[s];
    if (it->at == AT_PREF)
        return can_take(e, &e->agents[it->pref], it) ? it->pref : NONE;
    if (it->at != AT_HEAP)
        return NONE;
    if (e->settling != NONE && !it->dirty)
        return best_of_dirty(e, it, e->dirty_agents + e->settling, e->ndirty_agents - e->settling);
    const client *c = &e->clients[it->client];
    if (!c->nfree[it->channel])
        return NONE;
    return it->local ? best_of_local(e, it, c) : best_of_free(e, it, c);
}

static int offer(route_engine *e, uint32_t s, uint32_t as)
{
    if (log_reserve(e, 1) || timer_room(e, 1))
        return CD_ENOMEM;
    unplace(e, s);
    item *it = &e->items[s];
    agent *a = &e->agents[as];
    queue *q = &e->queues[it->queue];
    it->status = IT_OFFERED;
    it->agent = as;
    it->units = a->weight[it->channel];
    it->expires = e->now + q->cfg.offer_timeout_s * 1000LL;
    a->used = (uint16_t)(a->used + it->units);
    a->nvoice += it->channel == ROUTE_VOICE;
    it->opos = a->noffers;
    a->offers[a->noffers++] = s;
    q->waiting--;
    q->offered++;
    set_offer_timer(e, s, it->expires);
    agent_refresh(e, as);
    log_add(e, ROUTE_D_OFFER, it, a, it->expires);
    return 0;
}

/* Starting from item x, the first choice of agent `pulled`, walks to a pair
 * that are each other's first choice and offers. Each step moves to a
 * strictly better item, so the walk ends. `known` is best_agent(x) when the
 * caller already has it (nothing changed since), else NONE. */
static int settle_chain(route_engine *e, uint32_t x, uint32_t pulled, uint32_t known)
{
    for (;;) {
        /* `pulled` qualifies, so never NONE */
        uint32_t b = known != NONE ? known : best_agent(e, x);
        known = NONE;
        if (b != pulled) {
            uint32_t z = pull(e, b, x);
            if (z != x) {
                x = z;
                pulled = b;
                continue;
            }
        }
        return offer(e, x, b);
    }
}

static int settle_agent(route_engine *e, uint32_t as)
{
    for (;;) {
        uint32_t x = pull(e, as, NONE);
        if (x == NONE)
            return 0;
        int rc = settle_chain(e, x, as, NONE);
        if (rc)
            return rc;
    }
}

static int settle_item(route_engine *e, uint32_t s)
{
    while (e->items[s].status == IT_WAITING) {
        uint32_t b = best_agent(e, s);
        if (b == NONE)
            return 0;
        uint32_t x = pull(e, b, s);
        int rc = settle_chain(e, x, b, x == s ? b : NONE);
        if (rc)
            return rc;
    }
    return 0;
}

/* Restores "no free agent may take a waiting item" after an event. On
 * CD_ENOMEM the unsettled rest stays listed for the next event. */
static int match(route_engine *e)
{
    uint32_t i = 0;
    int rc = 0;
    for (; i < e->ndirty_agents && !rc; i++) {
        e->settling = i;
        e->agents[e->dirty_agents[i]].dirty = 0;
        rc = settle_agent(e, e->dirty_agents[i]);
    }
    e->settling = NONE;
    if (rc) {
        e->agents[e->dirty_agents[i - 1]].dirty = 1;
        memmove(e->dirty_agents, e->dirty_agents + i - 1,
                (e->ndirty_agents - i + 1) * sizeof(uint32_t));
        e->ndirty_agents -= i - 1;
        return rc;
    }
    e->ndirty_agents = 0;
    for (i = 0; i < e->ndirty_items && !rc; i++) {
        uint32_t s = e->dirty_items[i];
        rc = settle_item(e, s);
        if (!rc)
            e->items[s].dirty = 0;
    }
    if (rc) {
        memmove(e->dirty_items, e->dirty_items + i - 1,
                (e->ndirty_items - i + 1) * sizeof(uint32_t));
        e->ndirty_items -= i - 1;
        return rc;
    }
    e->ndirty_items = 0;
    return 0;
}

/* --- state changes ---------------------------------------------------------- */

/* Gives back the units an offered or assigned item holds. */
static void release(route_engine *e, uint32_t s)
{
    item *it = &e->items[s];
    agent *a = &e->agents[it->agent];
    a->used = (uint16_t)(a->used - it->units);
    a->nvoice -= it->channel == ROUTE_VOICE;
    if (it->status == IT_OFFERED) {
        uint32_t last = a->offers[--a->noffers];
        a->offers[it->opos] = last;
        e->items[last].opos = it->opos;
        e->queues[it->queue].offered--;
    } else {
        a->nassigned--;
    }
    if (a->state == ROUTE_AVAILABLE) {
        if (a->used == 0)
            a->idle_since = e->now;
        mark_agent(e, it->agent);
    }
    agent_refresh(e, it->agent);
    it->agent = NONE;
}

/* An offered item waits again, at its old place. */
static int requeue(route_engine *e, uint32_t s)
{
    item *it = &e->items[s];
    release(e, s);
    it->status = IT_WAITING;
    set_offer_timer(e, s, NEVER);
    e->queues[it->queue].waiting++;
    mark_item(e, s);
    return place(e, s);
}

static int exclude_reserve(route_engine *e, uint32_t s)
{
    item *it = &e->items[s];
    return grow(e, (void **)&it->excl, &it->capexcl, it->nexcl + 1, sizeof(int64_t));
}

/* Withdraws every offer the agent holds (it left AVAILABLE). */
static int withdraw_all(route_engine *e, uint32_t as)
{
    int rc = 0;
    while (e->agents[as].noffers) {
        uint32_t s = e->agents[as].offers[0];
        log_add(e, ROUTE_D_WITHDRAWN, &e->items[s], &e->agents[as], 0);
        int r = requeue(e, s);
        rc = rc ? rc : r;
    }
    return rc;
}

/* Room for the decisions a state change may log. */
static int state_reserve(route_engine *e, uint32_t as)
{
    return log_reserve(e, (size_t)e->agents[as].noffers * 2 + 2);
}

static int set_state(route_engine *e, uint32_t as, route_state st, int32_t wrapup_s, int32_t reason)
{
    agent *a = &e->agents[as];
    route_state old = a->state;
    if (old == ROUTE_WRAPUP) {
        set_wrap_timer(e, as, NEVER);
        a->wrapup_until = 0;
    }
    a->state = (uint8_t)st;
    a->away_reason = st == ROUTE_AWAY ? reason : 0;
    if (st == ROUTE_WRAPUP) {
        a->wrapup_until = e->now + wrapup_s * 1000LL;
        set_wrap_timer(e, as, a->wrapup_until);
    }
    int rc = 0;
    if (st != ROUTE_AVAILABLE)
        rc = withdraw_all(e, as);
    else if (old != ROUTE_AVAILABLE) {
        a->missed = 0;
        if (a->used == 0)
            a->idle_since = e->now;
        mark_agent(e, as);
    }
    agent_refresh(e, as);
    return rc;
}

static int expire(route_engine *e, uint32_t s)
{
    item *it = &e->items[s];
    uint32_t as = it->agent;
    agent *a = &e->agents[as];
    const queue *q = &e->queues[it->queue];
    log_add(e, ROUTE_D_EXPIRED, it, a, it->expires);
    it->excl[it->nexcl++] = a->id;
    int rc = requeue(e, s);
    if (a->state != ROUTE_AVAILABLE)
        return rc;
    a->missed++;
    if (q->cfg.max_missed && a->missed >= q->cfg.max_missed) {
        a->missed = 0;
        log_add(e, ROUTE_D_AGENT_AWAY, NULL, a, 0);
        int r = set_state(e, as, ROUTE_AWAY, 0, ROUTE_AWAY_MISSED);
        rc = rc ? rc : r;
    }
    return rc;
}

/* Applies everything due by e->now: offer expiry, widening, window ends,
 * overflow, wrap-up ends; and retries items left in limbo. */
static int advance(route_engine *e)
{
    int rc = 0;
    uint32_t n = e->nlimbo;
    e->nlimbo = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t s = e->limbo[i];
        item *it = &e->items[s];
        if (it->status == IT_WAITING && it->at == AT_LIMBO) {
            it->at = AT_NONE;
            int r = place(e, s);
            rc = rc ? rc : r;
            mark_item(e, s);
        }
    }
    for (;;) {
        const lane *from = NULL;
        const tent *first = NULL;
        if (e->tnext <= e->now) {
            first = timer_first(e, &from);
            e->tnext = first ? first->due : NEVER;
        }
        if (!first || first->due > e->now)
            break;
        tent t = *first;
        if ((t.kind & 3) == T_STEP) { /* see T_STEP: usually nobody to tell */
            timer_drop_first(e, from);
            uint32_t ch = t.kind >> 2 & 7;
            if (ch != T_NOCLIENT && !e->clients[t.kind >> 5].nfree[ch])
                continue;
            if (timer_live(e, &t) && e->items[t.slot].status == IT_WAITING)
                mark_placed(e, t.slot);
            continue;
        }
        if (!timer_live(e, &t)) {
            timer_drop_first(e, from);
            continue;
        }
        item *it = &e->items[t.slot];
        if (t.kind == T_OFFER && (exclude_reserve(e, t.slot) || state_reserve(e, it->agent)))
            return CD_ENOMEM; /* nothing moved; retried at the next event */
        if (t.kind == T_WAIT && it->status == IT_OFFERED && timer_room(e, 1))
            return CD_ENOMEM;
        timer_drop_first(e, from);
        int r = 0;
        if (t.kind == T_OFFER) {
            e->tgen[T_KINDS * (size_t)t.slot + T_OFFER] = ++e->gen;
            r = expire(e, t.slot);
        } else if (it->status == IT_OFFERED) { /* runs on until the offer is answered */
            it->due = CONSUMED;
            set_timer(e, t.slot, offered_due(&e->queues[it->queue], it, e->now));
        } else {
            it->due = CONSUMED;
            r = place(e, t.slot);
            mark_placed(e, t.slot);
        }
        rc = rc ? rc : r;
    }
    while (e->nwraps && e->wraps[0].due <= e->now) {
        tent t = e->wraps[0];
        theap_pop(e->wraps, &e->nwraps);
        if (!wrap_live(e, &t))
            continue;
        if (log_reserve(e, 1))
            return CD_ENOMEM;
        log_add(e, ROUTE_D_WRAPUP_DONE, NULL, &e->agents[t.slot], 0);
        set_state(e, t.slot, ROUTE_AVAILABLE, 0, 0);
    }
    return rc;
}

/* Every event: clamp time (it never goes back), validate, advance, apply,
 * match. */
static int64_t clamp_now(const route_engine *e, int64_t now)
{
    return now < e->now ? e->now : now;
}

static bool time_ok(int64_t now)
{
    return now >= 0 && now <= MAX_TIME;
}

static int finish_event(route_engine *e, int rc)
{
    int m = match(e);
    return rc ? rc : m;
}

/* --- lifetime ---------------------------------------------------------------- */

route_engine *route_create(void)
{
    route_engine *e = cd_calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->settling = NONE;
    e->tnext = NEVER;
    for (int i = 0; i < LANES; i++) {
        e->lane_due[i] = NEVER;
        e->lane_id[i] = INT64_MAX;
        e->lane_delay[i] = LANE_EMPTY;
    }
    e->bytes = sizeof *e;
    return e;
}

void route_destroy(route_engine *e)
{
    if (!e)
        return;
    for (uint32_t i = 0; i < e->nagents; i++)
        cd_free(e->agents[i].pref);
    for (uint32_t i = 0; i < e->nitems; i++)
        cd_free(e->items[i].excl);
    for (int i = 0; i < LANES; i++)
        cd_free(e->lanes[i].ring);
    for (uint32_t i = 0; i < e->nqueues; i++)
        for (int ch = 0; ch < ROUTE_CHANNELS; ch++)
            cd_free(e->queues[i].heap[ch]);
    for (uint32_t i = 0; i < e->nclients; i++) {
        cd_free(e->clients[i].queues);
        cd_free(e->clients[i].ents);
        cd_free(e->clients[i].skill_bits);
        for (int ch = 0; ch < ROUTE_CHANNELS; ch++)
            cd_free(e->clients[i].free[ch]);
    }
    idmap *maps[] = {&e->agent_ids, &e->item_ids, &e->queue_ids, &e->client_ids, &e->skill_ids};
    for (size_t i = 0; i < sizeof maps / sizeof *maps; i++)
        map_free(maps[i]);
    void *arrays[] = {e->agents_raw,  e->items_raw, e->ipos,   e->tgen,  e->ifree,
                      e->queues_raw,  e->clients,   e->timers, e->wraps, e->dirty_agents,
                      e->dirty_items, e->limbo,     e->log};
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++)
        cd_free(arrays[i]);
    cd_free(e);
}

size_t route_memory_bytes(const route_engine *e)
{
    return e->bytes;
}

/* --- configuration -------------------------------------------------------------- */

/* The client's slot, created on first sight (invisible until used). */
static int client_get(route_engine *e, int64_t id, uint32_t *out)
{
    uint32_t cs = map_get(&e->client_ids, id);
    if (cs == NONE) {
        if (map_reserve(e, &e->client_ids, 1) ||
            grow(e, (void **)&e->clients, &e->capclients, e->nclients + 1, sizeof(client)))
            return CD_ENOMEM;
        cs = e->nclients++;
        e->clients[cs] = (client){.id = id};
        map_put(&e->client_ids, id, cs);
    }
    *out = cs;
    return 0;
}

static int skill_get(route_engine *e, uint32_t id, uint32_t *out)
{
    uint32_t k = map_get(&e->skill_ids, id);
    if (k == NONE) {
        if (map_reserve(e, &e->skill_ids, 1))
            return CD_ENOMEM;
        k = e->nskills++;
        map_put(&e->skill_ids, id, k);
    }
    *out = k;
    return 0;
}

static bool skills_ok(const route_skill *sk, int n)
{
    for (int i = 0; i < n; i++) {
        if (sk[i].level < 1 || sk[i].level > 5)
            return false;
        for (int j = 0; j < i; j++)
            if (sk[j].id == sk[i].id)
                return false;
    }
    return true;
}

static bool queue_cfg_ok(const route_engine *e, const route_queue *q)
{
    if (q->id <= 0 || q->client_id <= 0 || q->aging_points_per_s < 1 ||
        q->aging_points_per_s > MAX_AGING || q->nsteps > ROUTE_MAX_STEPS ||
        q->overflow_after_s < 0 || q->overflow_after_s > MAX_SECONDS || q->offer_timeout_s < 1 ||
        q->offer_timeout_s > MAX_SECONDS)
        return false;
    for (int i = 0; i < 4; i++)
        if (q->urgency_points[i] < -MAX_POINTS || q->urgency_points[i] > MAX_POINTS)
            return false;
    for (int i = 0; i < 3; i++)
        if (q->tier_points[i] < -MAX_POINTS || q->tier_points[i] > MAX_POINTS)
            return false;
    for (int i = 0; i < 3; i++)
        if ((unsigned)q->order[i] > ROUTE_BY_HANDLED)
            return false;
    for (int i = 0; i < q->nsteps; i++) {
        const route_step *s = &q->steps[i];
        if (s->after_s < 0 || s->after_s > MAX_SECONDS || s->relax > 4 ||
            s->keep > ROUTE_MAX_REQUIRED)
            return false;
        /* widening only ever widens: later steps relax more, keep fewer */
        if (i > 0 &&
            (s->after_s <= s[-1].after_s || s->relax < s[-1].relax || s->keep > s[-1].keep))
            return false;
    }
    if (q->overflow_after_s > 0) {
        uint32_t t = map_get(&e->queue_ids, q->overflow_queue);
        if (q->overflow_queue == q->id || t == NONE || e->queues[t].cfg.client_id != q->client_id)
            return false;
    }
    return true;
}

/* Re-keys and re-places every waiting item of a queue whose configuration
 * changed (O(items in the engine)). */
static int queue_rebuild(route_engine *e, uint32_t qs)
{
    int rc = 0;
    for (uint32_t s = 0; s < e->nitems; s++) {
        item *it = &e->items[s];
        if (it->status == IT_FREE || it->queue != qs)
            continue;
        if (it->status == IT_WAITING)
            unplace(e, s);
        it->key = item_key(&e->queues[qs], it);
        it->sched = 0; /* its steps may have changed */
    }
    for (uint32_t s = 0; s < e->nitems; s++) {
        item *it = &e->items[s];
        if (it->status != IT_WAITING || it->queue != qs || it->at != AT_NONE)
            continue;
        int r = place(e, s);
        rc = rc ? rc : r;
        mark_item(e, s);
    }
    return rc;
}

int route_queue_set(route_engine *e, const route_queue *q, int64_t now)
{
    if (!e || !q || !time_ok(now) || !queue_cfg_ok(e, q))
        return CD_EINVAL;
    now = clamp_now(e, now);
    uint32_t qs = map_get(&e->queue_ids, q->id), cs;
    if (qs != NONE && e->queues[qs].cfg.client_id != q->client_id)
        return CD_EINVAL;
    if (qs == NONE) {
        if (map_reserve(e, &e->queue_ids, 1) ||
            grow_aligned(e, &e->queues_raw, (void **)&e->queues, &e->capqueues, e->nqueues,
                         e->nqueues + 1, sizeof(queue)) ||
            client_get(e, q->client_id, &cs))
            return CD_ENOMEM;
        client *c = &e->clients[cs];
        if (grow(e, (void **)&c->queues, &c->capqueues, c->nqueues + 1, sizeof(uint32_t)))
            return CD_ENOMEM;
    }
    e->now = now;
    int rc = advance(e);
    if (qs == NONE) {
        qs = e->nqueues++;
        e->queues[qs] = (queue){.cfg = *q, .client = cs, .aging = (uint16_t)q->aging_points_per_s};
        map_put(&e->queue_ids, q->id, qs);
        client *c = &e->clients[cs];
        c->queues[c->nqueues++] = qs;
    } else {
        e->queues[qs].cfg = *q;
        e->queues[qs].aging = (uint16_t)q->aging_points_per_s;
        int r = queue_rebuild(e, qs);
        rc = rc ? rc : r;
    }
    return finish_event(e, rc);
}

/* Room for one more agent everywhere an agent may be listed. */
static int agent_reserve(route_engine *e)
{
    if (map_reserve(e, &e->agent_ids, 1) ||
        grow_aligned(e, &e->agents_raw, (void **)&e->agents, &e->capagents, e->nagents,
                     e->nagents + 1, sizeof(agent)) ||
        grow(e, (void **)&e->dirty_agents, &e->capdagents, e->capagents, sizeof(uint32_t)) ||
        grow(e, (void **)&e->wraps, &e->capwraps, 2 * e->capagents, sizeof(tent)))
        return CD_ENOMEM;
    return 0;
}

/* Room for one more entry in the client's entries and bitmaps. */
static int client_reserve(route_engine *e, client *c)
{
    if (grow(e, (void **)&c->ents, &c->capents, c->nents + 1, sizeof(fent)))
        return CD_ENOMEM;
    uint32_t words = (c->capents + 63) / 64;
    if (words <= c->capwords)
        return 0;
    for (int ch = 0; ch < ROUTE_CHANNELS; ch++) {
        uint64_t *p = cd_realloc(c->free[ch], (size_t)words * sizeof(uint64_t));
        if (!p)
            return CD_ENOMEM; /* the words grown so far are zeroed past capwords again */
        memset(p + c->capwords, 0, (size_t)(words - c->capwords) * sizeof(uint64_t));
        c->free[ch] = p;
    }
    uint64_t *sb = cd_realloc(c->skill_bits, (size_t)words * SKILL_BITS * sizeof(uint64_t));
    if (!sb)
        return CD_ENOMEM;
    memset(sb + (size_t)c->capwords * SKILL_BITS, 0,
           (size_t)(words - c->capwords) * SKILL_BITS * sizeof(uint64_t));
    c->skill_bits = sb;
    e->bytes += (size_t)(words - c->capwords) * sizeof(uint64_t) * (ROUTE_CHANNELS + SKILL_BITS);
    c->capwords = words;
    return 0;
}

/* Takes the agent's entries out of its clients (last entry moved into the
 * gap, with its bits). */
static void agent_unlink_clients(route_engine *e, uint32_t as)
{
    agent *a = &e->agents[as];
    for (int ch = 0; ch < ROUTE_CHANNELS; ch++)
        if (a->free_mask >> ch & 1)
            free_set_remove(e, as, ch);
    for (int i = 0; i < a->nclients; i++) {
        client *c = &e->clients[a->clients[i]];
        uint32_t pos = a->cpos[i], last = --c->nents;
        skill_bits_clear(c, pos);
        if (pos == last)
            continue;
        fent m = c->ents[last];
        c->ents[pos] = m;
        skill_bits_set(c, pos, m.lv);
        skill_bits_clear(c, last);
        e->agents[m.slot].cpos[m.ci] = pos;
        for (int ch = 0; ch < ROUTE_CHANNELS; ch++)
            if (bit_get(c->free[ch], last)) {
                bit_clear(c->free[ch], last);
                bit_set(c->free[ch], pos);
            }
    }
}

int route_agent_set(route_engine *e, const route_agent *in, int64_t now)
{
    if (!e || !in || !time_ok(now) || in->id <= 0 || in->nclients > ROUTE_MAX_CLIENTS ||
        in->nskills > ROUTE_MAX_SKILLS || !skills_ok(in->skills, in->nskills))
        return CD_EINVAL;
    for (int i = 0; i < in->nclients; i++) {
        if (in->clients[i] <= 0)
            return CD_EINVAL;
        for (int j = 0; j < i; j++)
            if (in->clients[j] == in->clients[i])
                return CD_EINVAL;
    }
    now = clamp_now(e, now);
    uint32_t as = map_get(&e->agent_ids, in->id);
    uint32_t cs[ROUTE_MAX_CLIENTS], sk[ROUTE_MAX_SKILLS];
    if (as == NONE && agent_reserve(e))
        return CD_ENOMEM;
    for (int i = 0; i < in->nclients; i++) {
        if (client_get(e, in->clients[i], &cs[i]))
            return CD_ENOMEM;
        if (client_reserve(e, &e->clients[cs[i]]))
            return CD_ENOMEM;
    }
    for (int i = 0; i < in->nskills; i++)
        if (skill_get(e, in->skills[i].id, &sk[i]))
            return CD_ENOMEM;
    if (as != NONE && state_reserve(e, as))
        return CD_ENOMEM;
    e->now = now;
    int rc = advance(e);
    if (as == NONE) {
        as = e->nagents++;
        e->agents[as] = (agent){.id = in->id, .state = ROUTE_OFFLINE, .idle_since = now};
        map_put(&e->agent_ids, in->id, as);
    } else {
        agent_unlink_clients(e, as);
    }
    agent *a = &e->agents[as];
    a->nclients = in->nclients;
    for (int i = 0; i < in->nclients; i++)
        a->clients[i] = cs[i];
    a->nskills = 0;
    a->sig = 0;
    for (int i = 0; i < in->nskills; i++) { /* insertion by dense index */
        a->sig |= 1ULL << (sk[i] % 64);
        int j = a->nskills++;
        for (; j > 0 && a->skill[j - 1] > sk[i]; j--) {
            a->skill[j] = a->skill[j - 1];
            a->level[j] = a->level[j - 1];
        }
        a->skill[j] = sk[i];
        a->level[j] = in->skills[i].level;
    }
    for (int ch = 0; ch < ROUTE_CHANNELS; ch++)
        a->weight[ch] = in->weight[ch] ? in->weight[ch] : default_weight[ch];
    for (int i = 0; i < a->nclients; i++) { /* link: an entry in each client */
        client *c = &e->clients[cs[i]];
        agent_local_levels(e, a, i);
        a->cpos[i] = c->nents++;
        c->ents[a->cpos[i]] = (fent){{a->lv[i][0], a->lv[i][1]}, a->idle, as, (uint32_t)i};
        skill_bits_set(c, a->cpos[i], a->lv[i]);
    }
    /* Offers of a client it no longer serves are withdrawn; work it holds
     * there stays. */
    for (uint32_t k = 0; k < a->noffers;) {
        uint32_t s = a->offers[k];
        if (serves(a, e->items[s].client)) {
            k++;
            continue;
        }
        log_add(e, ROUTE_D_WITHDRAWN, &e->items[s], a, 0);
        int r = requeue(e, s); /* moves the last offer to place k */
        rc = rc ? rc : r;
    }
    agent_refresh(e, as);
    mark_agent(e, as);
    return finish_event(e, rc);
}

/* --- events ----------------------------------------------------------------------- */

static int agent_state_event(route_engine *e, uint32_t as, route_state st, int32_t wrapup_s,
                             int32_t reason, int64_t now)
{
    if (state_reserve(e, as))
        return CD_ENOMEM;
    e->now = clamp_now(e, now);
    int rc = advance(e);
    if (state_reserve(e, as)) /* advance may have used the room */
        return finish_event(e, CD_ENOMEM);
    int r = set_state(e, as, st, wrapup_s, reason);
    return finish_event(e, rc ? rc : r);
}

int route_agent_state(route_engine *e, int64_t agent_id, route_state st, int32_t wrapup_s,
                      int64_t now)
{
    if (!e || !time_ok(now) || (unsigned)st > ROUTE_WRAPUP ||
        (st == ROUTE_WRAPUP && (wrapup_s < 1 || wrapup_s > MAX_SECONDS)))
        return CD_EINVAL;
    uint32_t as = map_get(&e->agent_ids, agent_id);
    if (as == NONE)
        return CD_ENOTFOUND;
    return agent_state_event(e, as, st, wrapup_s, 0, now);
}

int route_agent_away(route_engine *e, int64_t agent_id, int32_t reason, int64_t now)
{
    if (!e || !time_ok(now) || reason < 0)
        return CD_EINVAL;
    uint32_t as = map_get(&e->agent_ids, agent_id);
    if (as == NONE)
        return CD_ENOTFOUND;
    return agent_state_event(e, as, ROUTE_AWAY, 0, reason, now);
}

/* Room for one more item everywhere an item may be listed. */
static int item_reserve(route_engine *e)
{
    if (map_reserve(e, &e->item_ids, 1))
        return CD_ENOMEM;
    if (e->nifree)
        return 0;
    if (grow_aligned(e, &e->items_raw, (void **)&e->items, &e->capitems, e->nitems, e->nitems + 1,
                     sizeof(item)) ||
        grow(e, (void **)&e->ipos, &e->capipos, e->capitems, sizeof(uint32_t)) ||
        grow(e, (void **)&e->tgen, &e->captgen, T_KINDS * e->capitems, sizeof(uint64_t)) ||
        grow(e, (void **)&e->ifree, &e->capifree, e->capitems, sizeof(uint32_t)) ||
        grow(e, (void **)&e->dirty_items, &e->capditems, e->capitems, sizeof(uint32_t)) ||
        grow(e, (void **)&e->limbo, &e->caplimbo, e->capitems, sizeof(uint32_t)))
        return CD_ENOMEM;
    return 0;
}

static void item_free(route_engine *e, uint32_t s)
{
    item *it = &e->items[s];
    if (it->at == AT_LIMBO)
        for (uint32_t i = 0; i < e->nlimbo; i++)
            if (e->limbo[i] == s)
                e->limbo[i] = e->limbo[--e->nlimbo];
    map_del(&e->item_ids, it->id);
    e->bytes -= (size_t)it->capexcl * sizeof(int64_t);
    cd_free(it->excl);
    it->excl = NULL;
    it->nexcl = it->capexcl = 0;
    it->status = IT_FREE;
    it->at = AT_NONE;
    clear_timers(e, s);
    e->ifree[e->nifree++] = s;
}

static bool interaction_ok(const route_interaction *in, int64_t now)
{
    if (in->id <= 0 || in->client_id <= 0 || in->queue_id <= 0 ||
        (unsigned)in->channel >= ROUTE_CHANNELS || (unsigned)in->urgency > ROUTE_URGENT ||
        (unsigned)in->tier > ROUTE_ENTERPRISE || in->nrequired > ROUTE_MAX_REQUIRED ||
        !skills_ok(in->required, in->nrequired) || in->preferred_agent < 0 ||
        in->preferred_timeout_s < 0 || in->preferred_timeout_s > MAX_SECONDS ||
        in->nexcluded > ROUTE_MAX_EXCLUDED)
        return false;
    for (int i = 0; i < in->nexcluded; i++)
        if (in->excluded[i] <= 0)
            return false;
    return in->arrived_ms >= 0 && in->arrived_ms <= now;
}

/* The arrival's exclusion list, without duplicates, in memory of its own
 * (NULL when empty); taken over by item_new. */
static int exclusions_copy(route_engine *e, const route_interaction *in, int64_t **out, uint32_t *n,
                           uint32_t *cap)
{
    *out = NULL;
    *n = *cap = 0;
    if (!in->nexcluded)
        return 0;
    if (grow(e, (void **)out, cap, in->nexcluded, sizeof(int64_t)))
        return CD_ENOMEM;
    for (int i = 0; i < in->nexcluded; i++) {
        uint32_t j = 0;
        while (j < *n && (*out)[j] != in->excluded[i])
            j++;
        if (j == *n)
            (*out)[(*n)++] = in->excluded[i];
    }
    return 0;
}

static uint32_t item_new(route_engine *e, const route_interaction *in, uint32_t qs,
                         const uint32_t *sk, const int *li, int64_t *excl, uint32_t nexcl,
                         uint32_t capexcl)
{
    bool fresh = !e->nifree; /* a reused slot may still sit in the dirty list */
    uint32_t s = fresh ? e->nitems++ : e->ifree[--e->nifree];
    item *it = &e->items[s];
    uint8_t dirty = fresh ? 0 : it->dirty;
    *it = (item){.id = in->id,
                 .arrived = in->arrived_ms,
                 .entered = in->arrived_ms,
                 .due = CONSUMED,
                 .client = e->queues[qs].client,
                 .queue = qs,
                 .agent = NONE,
                 .pref = NONE,
                 .nreq = in->nrequired,
                 .channel = (uint8_t)in->channel,
                 .urgency = (uint8_t)in->urgency,
                 .tier = (uint8_t)in->tier,
                 .status = IT_WAITING,
                 .at = AT_NONE,
                 .dirty = dirty,
                 .excl = excl,
                 .nexcl = nexcl,
                 .capexcl = capexcl};
    it->local = 1;
    for (int i = 0; i < in->nrequired; i++) {
        it->req_skill[i] = sk[i];
        it->req_level[i] = in->required[i].level;
        if (li[i] < 0) {
            it->local = 0;
        } else {
            it->req_pack[i] = (uint8_t)(li[i] << 3 | in->required[i].level);
            lv_set(it->mmask, li[i], 0xF);
        }
    }
    uint32_t ps = in->preferred_agent ? map_get(&e->agent_ids, in->preferred_agent) : NONE;
    if (ps != NONE && in->preferred_timeout_s > 0 && serves(&e->agents[ps], it->client)) {
        it->pref = ps;
        it->window_end = in->arrived_ms + in->preferred_timeout_s * 1000LL;
    }
    it->key = item_key(&e->queues[qs], it);
    for (int k = 0; k < T_KINDS; k++)
        e->tgen[T_KINDS * (size_t)s + k] = ++e->gen;
    map_put(&e->item_ids, in->id, s);
    e->queues[qs].waiting++;
    return s;
}

int route_arrive(route_engine *e, const route_interaction *in, int64_t now)
{
    if (!e || !in || !time_ok(now) || !interaction_ok(in, clamp_now(e, now)))
        return CD_EINVAL;
    if (map_get(&e->item_ids, in->id) != NONE)
        return CD_ECONFLICT;
    uint32_t qs = map_get(&e->queue_ids, in->queue_id), sk[ROUTE_MAX_REQUIRED];
    if (qs == NONE)
        return CD_ENOTFOUND;
    if (e->queues[qs].cfg.client_id != in->client_id)
        return CD_EINVAL;
    if (item_reserve(e))
        return CD_ENOMEM;
    for (int i = 0; i < in->nrequired; i++)
        if (skill_get(e, in->required[i].id, &sk[i]))
            return CD_ENOMEM;
    int64_t *excl;
    uint32_t nexcl, capexcl;
    if (exclusions_copy(e, in, &excl, &nexcl, &capexcl))
        return CD_ENOMEM;
    int li[ROUTE_MAX_REQUIRED];
    for (int i = 0; i < in->nrequired; i++) /* a cache: invisible if the arrival fails */
        li[i] = client_learn(e, e->queues[qs].client, sk[i]);
    e->now = clamp_now(e, now);
    int rc = advance(e);
    uint32_t s = item_new(e, in, qs, sk, li, excl, nexcl, capexcl);
    if (place(e, s)) { /* undo: the arrival did not happen */
        e->queues[e->items[s].queue].waiting--;
        item_free(e, s);
        return finish_event(e, CD_ENOMEM);
    }
    mark_placed(e, s);
    return finish_event(e, rc);
}

int route_assign(route_engine *e, const route_interaction *in, int64_t agent_id, int64_t now)
{
    if (!e || !in || !time_ok(now) || !interaction_ok(in, clamp_now(e, now)))
        return CD_EINVAL;
    if (map_get(&e->item_ids, in->id) != NONE)
        return CD_ECONFLICT;
    uint32_t qs = map_get(&e->queue_ids, in->queue_id), sk[ROUTE_MAX_REQUIRED];
    uint32_t as = map_get(&e->agent_ids, agent_id);
    if (qs == NONE || as == NONE)
        return CD_ENOTFOUND;
    if (e->queues[qs].cfg.client_id != in->client_id)
        return CD_EINVAL;
    if (item_reserve(e))
        return CD_ENOMEM;
    for (int i = 0; i < in->nrequired; i++)
        if (skill_get(e, in->required[i].id, &sk[i]))
            return CD_ENOMEM;
    int64_t *excl; /* recorded as at arrival */
    uint32_t nexcl, capexcl;
    if (exclusions_copy(e, in, &excl, &nexcl, &capexcl))
        return CD_ENOMEM;
    int li[ROUTE_MAX_REQUIRED];
    for (int i = 0; i < in->nrequired; i++)
        li[i] = client_learn(e, e->queues[qs].client, sk[i]);
    e->now = clamp_now(e, now);
    int rc = advance(e);
    uint32_t s = item_new(e, in, qs, sk, li, excl, nexcl, capexcl);
    item *it = &e->items[s];
    agent *a = &e->agents[as];
    e->queues[qs].waiting--;
    it->status = IT_ASSIGNED;
    it->agent = as;
    it->units = a->weight[it->channel];
    a->used = (uint16_t)(a->used + it->units);
    a->nvoice += it->channel == ROUTE_VOICE;
    a->nassigned++;
    agent_refresh(e, as);
    return finish_event(e, rc);
}

int route_cancel(route_engine *e, int64_t interaction, int64_t now)
{
    if (!e || !time_ok(now))
        return CD_EINVAL;
    uint32_t s = map_get(&e->item_ids, interaction);
    if (s == NONE)
        return CD_ENOTFOUND;
    e->now = clamp_now(e, now);
    int rc = advance(e);
    item *it = &e->items[s];
    if (it->status == IT_WAITING) {
        unplace(e, s);
        e->queues[it->queue].waiting--;
    } else {
        release(e, s);
    }
    item_free(e, s);
    return finish_event(e, rc);
}

/* The offer of interaction to agent, still open at now? */
static int offer_lookup(const route_engine *e, int64_t interaction, int64_t agent_id, int64_t now,
                        uint32_t *s, uint32_t *as)
{
    if (!e || !time_ok(now))
        return CD_EINVAL;
    *s = map_get(&e->item_ids, interaction);
    *as = map_get(&e->agent_ids, agent_id);
    if (*s == NONE || *as == NONE)
        return CD_ENOTFOUND;
    const item *it = &e->items[*s];
    if (it->status != IT_OFFERED || it->agent != *as || clamp_now(e, now) >= it->expires)
        return CD_ESTATE;
    return 0;
}

int route_accept(route_engine *e, int64_t interaction, int64_t agent_id, int64_t now)
{
    uint32_t s, as;
    int rc = offer_lookup(e, interaction, agent_id, now, &s, &as);
    if (rc)
        return rc;
    e->now = clamp_now(e, now);
    rc = advance(e);
    item *it = &e->items[s];
    agent *a = &e->agents[as];
    if (it->status != IT_OFFERED || it->agent != as) /* withdrawn by what was due */
        return finish_event(e, CD_ESTATE);
    uint32_t last = a->offers[--a->noffers];
    a->offers[it->opos] = last;
    e->items[last].opos = it->opos;
    a->nassigned++;
    a->handled++;
    a->missed = 0;
    e->queues[it->queue].offered--;
    it->status = IT_ASSIGNED;
    clear_timers(e, s);
    return finish_event(e, rc);
}

int route_reject(route_engine *e, int64_t interaction, int64_t agent_id, int64_t now)
{
    uint32_t s, as;
    int rc = offer_lookup(e, interaction, agent_id, now, &s, &as);
    if (rc)
        return rc;
    if (exclude_reserve(e, s))
        return CD_ENOMEM;
    e->now = clamp_now(e, now);
    rc = advance(e);
    item *it = &e->items[s];
    if (it->status != IT_OFFERED || it->agent != as) /* withdrawn by what was due */
        return finish_event(e, CD_ESTATE);
    it->excl[it->nexcl++] = e->agents[as].id;
    e->agents[as].missed = 0;
    int r = requeue(e, s);
    return finish_event(e, rc ? rc : r);
}

int route_finish(route_engine *e, int64_t interaction, int64_t agent_id, int32_t wrapup_s,
                 int64_t now)
{
    if (!e || !time_ok(now) || wrapup_s < 0 || wrapup_s > MAX_SECONDS)
        return CD_EINVAL;
    uint32_t s = map_get(&e->item_ids, interaction), as = map_get(&e->agent_ids, agent_id);
    if (s == NONE || as == NONE)
        return CD_ENOTFOUND;
    if (e->items[s].status != IT_ASSIGNED || e->items[s].agent != as)
        return CD_ESTATE;
    if (state_reserve(e, as))
        return CD_ENOMEM;
    e->now = clamp_now(e, now);
    int rc = advance(e);
    release(e, s);
    item_free(e, s);
    agent *a = &e->agents[as];
    if (a->state == ROUTE_AVAILABLE && wrapup_s > 0 && a->nassigned == 0 && a->noffers == 0) {
        int r = set_state(e, as, ROUTE_WRAPUP, wrapup_s, 0);
        rc = rc ? rc : r;
    }
    return finish_event(e, rc);
}

int route_tick(route_engine *e, int64_t now)
{
    if (!e || !time_ok(now))
        return CD_EINVAL;
    e->now = clamp_now(e, now);
    return finish_event(e, advance(e));
}

void route_day_reset(route_engine *e)
{
    for (uint32_t i = 0; i < e->nagents; i++)
        e->agents[i].handled = 0;
}

size_t route_decisions(route_engine *e, route_decision *out, size_t max)
{
    size_t n = e->logn - e->loghead;
    if (n > max)
        n = max;
    if (n)
        memcpy(out, e->log + e->loghead, n * sizeof *out);
    e->loghead += n;
    if (e->loghead == e->logn)
        e->loghead = e->logn = 0;
    return n;
}

size_t route_decisions_pending(const route_engine *e)
{
    return e->logn - e->loghead;
}

int64_t route_next_deadline(const route_engine *e)
{
    if (e->nlimbo)
        return e->now;
    const lane *from;
    const tent *first = timer_first(e, &from);
    int64_t d = first ? first->due : NEVER;
    if (e->nwraps && e->wraps[0].due < d)
        d = e->wraps[0].due;
    return d;
}

/* --- views ------------------------------------------------------------------------ */

int route_queue_view_get(const route_engine *e, int64_t queue_id, route_queue_view *out)
{
    uint32_t qs = map_get(&e->queue_ids, queue_id);
    if (qs == NONE)
        return CD_ENOTFOUND;
    out->waiting = e->queues[qs].waiting;
    out->offered = e->queues[qs].offered;
    out->oldest_arrived_ms = INT64_MAX;
    for (uint32_t s = 0; s < e->nitems && out->waiting; s++) {
        const item *it = &e->items[s];
        if (it->status == IT_WAITING && it->queue == qs && it->arrived < out->oldest_arrived_ms)
            out->oldest_arrived_ms = it->arrived;
    }
    return 0;
}

int route_agent_view_get(const route_engine *e, int64_t agent_id, route_agent_view *out)
{
    uint32_t as = map_get(&e->agent_ids, agent_id);
    if (as == NONE)
        return CD_ENOTFOUND;
    const agent *a = &e->agents[as];
    memset(out, 0, sizeof *out); /* padding too: views compare with memcmp */
    out->state = a->state;
    out->used_units = a->used;
    out->assigned = a->nassigned;
    out->offered = a->noffers;
    out->missed_in_row = a->missed;
    out->handled_today = a->handled;
    out->idle_since_ms = a->idle_since;
    out->wrapup_until_ms = a->wrapup_until;
    out->away_reason = a->away_reason;
    return 0;
}

int route_interaction_where(const route_engine *e, int64_t interaction, int *where,
                            int64_t *agent_id)
{
    uint32_t s = map_get(&e->item_ids, interaction);
    if (s == NONE)
        return CD_ENOTFOUND;
    const item *it = &e->items[s];
    *where = it->status == IT_WAITING ? 0 : it->status == IT_OFFERED ? 1 : 2;
    if (agent_id)
        *agent_id = it->agent == NONE ? 0 : e->agents[it->agent].id;
    return 0;
}

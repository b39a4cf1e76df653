/* sla.c - SLA policies, clocks and their scheduler; see sla.h and
 * docs/sla.md. */
#include "core/sla.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const TARGETS[SLA_TARGETS] = {"first_response", "next_response",
                                                 "periodic_update", "resolution"};
static const char *const PRIORITIES[] = {"low", "normal", "high", "urgent"};
static const char *const TIERS[] = {"standard", "premium", "enterprise"};
static const char *const CHANNELS[] = {"voice", "chat", "email", "social", "web"};

const char *sla_target_name(sla_target t)
{
    return (unsigned)t < SLA_TARGETS ? TARGETS[t] : "?";
}

const char *sla_event_name(sla_event_kind k)
{
    static const char *const n[] = {"applied", "warning", "breached", "fulfilled"};
    return (unsigned)k < 4 ? n[k] : "?";
}

const char *sla_state_name(sla_state s)
{
    static const char *const n[] = {"none", "running", "paused", "fulfilled", "stopped"};
    return (unsigned)s < 5 ? n[s] : "?";
}

/* --- policies ------------------------------------------------------------ */

typedef struct policy {
    int64_t id;
    uint32_t priorities, tiers, channels; /* bit sets; 0: any */
    char **categories;                    /* NULL: any */
    size_t ncategories;
    int64_t *queues; /* NULL: any */
    size_t nqueues;
    int64_t target_ms[SLA_TARGETS]; /* 0: none */
    uint8_t business[SLA_TARGETS];
    double warning;
} policy;

struct sla_policies {
    policy *p;
    size_t n;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return CD_EINVAL;
}

void sla_policies_free(sla_policies *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        for (size_t k = 0; k < p->p[i].ncategories; k++)
            cd_free(p->p[i].categories[k]);
        cd_free(p->p[i].categories);
        cd_free(p->p[i].queues);
    }
    cd_free(p->p);
    cd_free(p);
}

size_t sla_policies_count(const sla_policies *p)
{
    return p ? p->n : 0;
}

/* A list of names from `names` into a bit set. */
static int parse_names(const json_t *v, const char *const *names, int n, uint32_t *set,
                       const char *field, char *err, size_t errlen)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return fail(err, errlen, "%s: expected a non-empty list", field);
    size_t i;
    json_t *x;
    json_array_foreach (v, i, x) {
        const char *s = json_string_value(x);
        int k = 0;
        while (k < n && (!s || strcmp(s, names[k])))
            k++;
        if (k == n) {
            char all[80] = "";
            for (int j = 0; j < n; j++)
                snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", j ? ", " : "",
                         names[j]);
            return fail(err, errlen, "%s[%zu]: \"%.32s\" is not one of %s", field, i, s ? s : "?",
                        all);
        }
        *set |= 1u << k;
    }
    return 0;
}

static int parse_policy(const json_t *jp, size_t idx, double warning, policy *p, char *err,
                        size_t errlen)
{
    char field[96];
    if (!json_is_object(jp))
        return fail(err, errlen, "policies[%zu]: expected an object", idx);
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)jp, key, v) {
        if (strcmp(key, "id") && strcmp(key, "name") && strcmp(key, "when") &&
            strcmp(key, "targets") && strcmp(key, "warning"))
            return fail(err, errlen, "policies[%zu].%.32s: unknown field", idx, key);
    }
    json_t *id = json_object_get(jp, "id");
    if (!json_is_integer(id) || json_integer_value(id) <= 0)
        return fail(err, errlen, "policies[%zu].id: required, an integer > 0", idx);
    p->id = json_integer_value(id);
    v = json_object_get(jp, "name");
    if (v && !json_is_string(v))
        return fail(err, errlen, "policies[%zu].name: expected a string", idx);
    p->warning = warning;
    if ((v = json_object_get(jp, "warning"))) {
        if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) >= 1)
            return fail(err, errlen, "policies[%zu].warning: expected a share 0 <= w < 1", idx);
        p->warning = json_number_value(v);
    }
    json_t *when = json_object_get(jp, "when");
    if (when && !json_is_object(when))
        return fail(err, errlen, "policies[%zu].when: expected an object", idx);
    if (when) {
        json_object_foreach (when, key, v) {
            snprintf(field, sizeof field, "policies[%zu].when.%.32s", idx, key);
            int rc = 0;
            if (json_is_array(v) && json_array_size(v) > SLA_MAX_VALUES)
                return fail(err, errlen, "%s: more than %d values", field, SLA_MAX_VALUES);
            if (!strcmp(key, "priority"))
                rc = parse_names(v, PRIORITIES, 4, &p->priorities, field, err, errlen);
            else if (!strcmp(key, "tier"))
                rc = parse_names(v, TIERS, 3, &p->tiers, field, err, errlen);
            else if (!strcmp(key, "channel"))
                rc = parse_names(v, CHANNELS, 5, &p->channels, field, err, errlen);
            else if (!strcmp(key, "category") || !strcmp(key, "queue")) {
                int cat = key[0] == 'c';
                if (!json_is_array(v) || json_array_size(v) == 0)
                    return fail(err, errlen, "%s: expected a non-empty list", field);
                size_t n = json_array_size(v), i;
                json_t *x;
                if (cat && !(p->categories = cd_calloc(n, sizeof *p->categories)))
                    return CD_ENOMEM;
                if (!cat && !(p->queues = cd_calloc(n, sizeof *p->queues)))
                    return CD_ENOMEM;
                json_array_foreach (v, i, x) {
                    if (cat) {
                        const char *s = json_string_value(x);
                        if (!s || !*s || strlen(s) > SLA_MAX_CATEGORY)
                            return fail(err, errlen, "%s[%zu]: expected a category name", field, i);
                        if (!(p->categories[i] = cd_strdup(s)))
                            return CD_ENOMEM;
                        p->ncategories = i + 1;
                    } else {
                        if (!json_is_integer(x) || json_integer_value(x) <= 0)
                            return fail(err, errlen, "%s[%zu]: expected a queue id > 0", field, i);
                        p->queues[i] = json_integer_value(x);
                        p->nqueues = i + 1;
                    }
                }
            } else
                return fail(err, errlen,
                            "%s: unknown condition (priority, tier, channel, "
                            "category, queue)",
                            field);
            if (rc)
                return rc;
        }
    }
    json_t *targets = json_object_get(jp, "targets");
    if (!json_is_object(targets) || json_object_size(targets) == 0)
        return fail(err, errlen, "policies[%zu].targets: required, an object of targets", idx);
    json_object_foreach (targets, key, v) {
        int k = 0;
        while (k < SLA_TARGETS && strcmp(key, TARGETS[k]))
            k++;
        snprintf(field, sizeof field, "policies[%zu].targets.%.32s", idx, key);
        if (k == SLA_TARGETS)
            return fail(err, errlen,
                        "%s: not a target (first_response, next_response, "
                        "periodic_update, resolution)",
                        field);
        const char *tk;
        json_t *tv;
        if (!json_is_object(v))
            return fail(err, errlen, "%s: expected {\"minutes\": n}", field);
        json_object_foreach (v, tk, tv) {
            if (strcmp(tk, "minutes") && strcmp(tk, "time"))
                return fail(err, errlen, "%s.%.32s: unknown field", field, tk);
        }
        json_t *m = json_object_get(v, "minutes"), *t = json_object_get(v, "time");
        if (!json_is_integer(m) || json_integer_value(m) <= 0 ||
            json_integer_value(m) > 100LL * 366 * 1440)
            return fail(err, errlen, "%s.minutes: required, an integer 1..52704000", field);
        p->target_ms[k] = json_integer_value(m) * 60000;
        p->business[k] = 1;
        if (t && (!json_is_string(t) || (strcmp(json_string_value(t), "business") &&
                                         strcmp(json_string_value(t), "calendar"))))
            return fail(err, errlen, "%s.time: \"business\" or \"calendar\"", field);
        if (t && !strcmp(json_string_value(t), "calendar"))
            p->business[k] = 0;
    }
    return 0;
}

int sla_policies_parse(const char *text, size_t len, sla_policies **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (len > SLA_MAX_TEXT)
        return CD_ETOOBIG;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return fail(err, errlen, "policies: invalid JSON at line %d: %s", je.line, je.text);
    int rc = 0;
    sla_policies *ps = NULL;
    const char *key;
    json_t *v, *list = json_object_get(root, "policies"), *w = json_object_get(root, "warning");
    json_object_foreach (root, key, v) {
        if (strcmp(key, "policies") && strcmp(key, "warning")) {
            rc = fail(err, errlen, "%.32s: unknown field", key);
            goto out;
        }
    }
    if (w && (!json_is_number(w) || json_number_value(w) < 0 || json_number_value(w) >= 1)) {
        rc = fail(err, errlen, "warning: expected a share 0 <= w < 1");
        goto out;
    }
    if (!json_is_array(list)) {
        rc = fail(err, errlen, "policies: required, a list");
        goto out;
    }
    if (json_array_size(list) > SLA_MAX_POLICIES) {
        rc = fail(err, errlen, "policies: more than %d", SLA_MAX_POLICIES);
        goto out;
    }
    ps = cd_calloc(1, sizeof *ps);
    if (!ps || !(ps->p = cd_calloc(json_array_size(list) + 1, sizeof *ps->p))) {
        rc = CD_ENOMEM;
        goto out;
    }
    size_t i;
    json_array_foreach (list, i, v) {
        ps->n = i + 1;
        if ((rc = parse_policy(v, i, w ? json_number_value(w) : 0.8, &ps->p[i], err, errlen)))
            goto out;
        for (size_t k = 0; k < i; k++)
            if (ps->p[k].id == ps->p[i].id) {
                rc = fail(err, errlen, "policies[%zu].id: %lld also names policies[%zu]", i,
                          (long long)ps->p[i].id, k);
                goto out;
            }
    }
out:
    json_decref(root);
    if (rc)
        sla_policies_free(ps);
    else
        *out = ps;
    return rc;
}

static int policy_matches(const policy *p, const sla_attrs *a)
{
    if (p->priorities && !(p->priorities >> a->priority & 1))
        return 0;
    if (p->tiers && !(p->tiers >> a->tier & 1))
        return 0;
    if (p->channels && !(p->channels >> a->channel & 1))
        return 0;
    if (p->queues) {
        size_t k = 0;
        while (k < p->nqueues && p->queues[k] != a->queue)
            k++;
        if (k == p->nqueues)
            return 0;
    }
    if (p->categories) {
        if (!a->category || !*a->category)
            return 0;
        size_t k = 0;
        while (k < p->ncategories && strcmp(p->categories[k], a->category))
            k++;
        if (k == p->ncategories)
            return 0;
    }
    return 1;
}

static int match_index(const sla_policies *ps, const sla_attrs *a)
{
    for (size_t i = 0; ps && i < ps->n; i++)
        if (policy_matches(&ps->p[i], a))
            return (int)i;
    return -1;
}

int64_t sla_policies_match(const sla_policies *p, const sla_attrs *a)
{
    int i = match_index(p, a);
    return i < 0 ? 0 : p->p[i].id;
}

/* --- the engine ---------------------------------------------------------- */

typedef struct client {
    int64_t id;
    calendar *cal;
    sla_policies *pol;
} client;

typedef struct item {
    int64_t id, queue, policy;
    const char *category; /* interned; NULL: none */
    uint32_t client;      /* index into clients; UINT32_MAX: not set */
    int32_t pidx;         /* the policy's index in the client's set; -1: none */
    uint8_t priority, tier, channel, pending, responded, resolved, used;
    uint32_t hpos[SLA_TARGETS]; /* heap index + 1; 0: no timer */
    sla_clock c[SLA_TARGETS];
} item;

typedef struct hent {
    int64_t at, id;
    uint32_t item;
    uint32_t kind;
} hent;

struct sla_engine {
    int64_t now;
    calendar *always;
    client *clients;
    size_t nclients, capclients;
    item *items;
    size_t nitems, capitems, live;
    uint32_t *freel;
    size_t nfree;
    uint32_t *map; /* id -> item index + 1; open addressing, power of two */
    size_t capmap;
    hent *heap;
    size_t nheap, capheap;
    char **strs; /* interned categories; open addressing */
    size_t nstrs, capstrs, strbytes;
    sla_event *ev;
    size_t nev, headev, capev;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

sla_engine *sla_create(void)
{
    sla_engine *e = cd_calloc(1, sizeof *e);
    if (!e)
        return NULL;
    if (calendar_always(&e->always)) {
        cd_free(e);
        return NULL;
    }
    return e;
}

void sla_destroy(sla_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nclients; i++) {
        calendar_free(e->clients[i].cal);
        sla_policies_free(e->clients[i].pol);
    }
    for (size_t i = 0; i < e->capstrs; i++)
        cd_free(e->strs[i]);
    calendar_free(e->always);
    cd_free(e->clients);
    cd_free(e->items);
    cd_free(e->freel);
    cd_free(e->map);
    cd_free(e->heap);
    cd_free(e->strs);
    cd_free(e->ev);
    cd_free(e);
}

size_t sla_memory_bytes(const sla_engine *e)
{
    return sizeof *e + e->capclients * sizeof *e->clients + e->capitems * sizeof *e->items +
           e->capitems * sizeof *e->freel + e->capmap * sizeof *e->map +
           e->capheap * sizeof *e->heap + e->capstrs * sizeof *e->strs + e->strbytes +
           e->capev * sizeof *e->ev;
}

size_t sla_count(const sla_engine *e)
{
    return e->live;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = cd_realloc(*p, n * size);
    if (!q)
        return CD_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* --- id map --- */

static size_t slot_of(const sla_engine *e, int64_t id)
{
    size_t mask = e->capmap - 1, s = mix((uint64_t)id) & mask;
    while (e->map[s] && e->items[e->map[s] - 1].id != id)
        s = (s + 1) & mask;
    return s;
}

static item *find(const sla_engine *e, int64_t id)
{
    if (!e->capmap)
        return NULL;
    uint32_t v = e->map[slot_of(e, id)];
    return v ? &e->items[v - 1] : NULL;
}

static int map_reserve(sla_engine *e, size_t n)
{
    if (n * 2 <= e->capmap)
        return 0;
    size_t cap = e->capmap ? e->capmap * 2 : 64;
    while (n * 2 > cap)
        cap *= 2;
    uint32_t *m = cd_calloc(cap, sizeof *m), *old = e->map;
    if (!m)
        return CD_ENOMEM;
    size_t oldcap = e->capmap;
    e->map = m;
    e->capmap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i])
            e->map[slot_of(e, e->items[old[i] - 1].id)] = old[i];
    cd_free(old);
    return 0;
}

static void map_delete(sla_engine *e, int64_t id)
{
    size_t mask = e->capmap - 1, s = slot_of(e, id);
    e->map[s] = 0;
    /* Backward-shift deletion keeps every probe sequence unbroken. */
    for (size_t j = (s + 1) & mask; e->map[j]; j = (j + 1) & mask) {
        size_t home = mix((uint64_t)e->items[e->map[j] - 1].id) & mask;
        if (((j - home) & mask) >= ((j - s) & mask)) {
            e->map[s] = e->map[j];
            e->map[j] = 0;
            s = j;
        }
    }
}

/* --- interned categories --- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int intern(sla_engine *e, const char *s, const char **out)
{
    if (!s || !*s) {
        *out = NULL;
        return 0;
    }
    if ((e->nstrs + 1) * 2 > e->capstrs) {
        size_t cap = e->capstrs ? e->capstrs * 2 : 64;
        char **t = cd_calloc(cap, sizeof *t);
        if (!t)
            return CD_ENOMEM;
        for (size_t i = 0; i < e->capstrs; i++)
            if (e->strs[i]) {
                size_t j = hash_str(e->strs[i]) & (cap - 1);
                while (t[j])
                    j = (j + 1) & (cap - 1);
                t[j] = e->strs[i];
            }
        cd_free(e->strs);
        e->strs = t;
        e->capstrs = cap;
    }
    size_t j = hash_str(s) & (e->capstrs - 1);
    while (e->strs[j] && strcmp(e->strs[j], s))
        j = (j + 1) & (e->capstrs - 1);
    if (!e->strs[j]) {
        if (!(e->strs[j] = cd_strdup(s)))
            return CD_ENOMEM;
        e->nstrs++;
        e->strbytes += strlen(s) + 1;
    }
    *out = e->strs[j];
    return 0;
}

/* --- the timer heap --- */

static int hless(const hent *a, const hent *b)
{
    if (a->at != b->at)
        return a->at < b->at;
    if (a->id != b->id)
        return a->id < b->id;
    return a->kind < b->kind;
}

static void hput(sla_engine *e, size_t i, hent h)
{
    e->heap[i] = h;
    e->items[h.item].hpos[h.kind] = (uint32_t)i + 1;
}

static void sift_up(sla_engine *e, size_t i)
{
    hent h = e->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hless(&h, &e->heap[p]))
            break;
        hput(e, i, e->heap[p]);
        i = p;
    }
    hput(e, i, h);
}

static void sift_down(sla_engine *e, size_t i)
{
    hent h = e->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const hent *best = &h;
        if (l < e->nheap && hless(&e->heap[l], best))
            best = &e->heap[m = l];
        if (l + 1 < e->nheap && hless(&e->heap[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        hput(e, i, e->heap[m]);
        i = m;
    }
    hput(e, i, h);
}

static void heap_remove(sla_engine *e, item *it, int k)
{
    uint32_t pos = it->hpos[k];
    if (!pos)
        return;
    it->hpos[k] = 0;
    size_t i = pos - 1;
    e->nheap--;
    if (i == e->nheap)
        return;
    hent last = e->heap[e->nheap];
    hput(e, i, last);
    if (i > 0 && hless(&last, &e->heap[(i - 1) / 2]))
        sift_up(e, i);
    else
        sift_down(e, i);
}

/* Sets the clock's timer to `at` (INT64_MAX: none). The heap has room for
 * every clock (heap_reserve before an item is added). */
static void heap_set(sla_engine *e, item *it, int k, int64_t at)
{
    if (at == INT64_MAX) {
        heap_remove(e, it, k);
        return;
    }
    hent h = {at, it->id, (uint32_t)(it - e->items), (uint32_t)k};
    if (it->hpos[k]) {
        size_t i = it->hpos[k] - 1;
        int up = hless(&h, &e->heap[i]);
        e->heap[i] = h;
        if (up)
            sift_up(e, i);
        else
            sift_down(e, i);
    } else {
        hput(e, e->nheap++, h);
        sift_up(e, e->nheap - 1);
    }
}

/* --- events --- */

static sla_event *emit(sla_engine *e, sla_event_kind kind, const item *it, int k, int64_t at)
{
    if (e->headev == e->nev)
        e->headev = e->nev = 0;
    if (grow((void **)&e->ev, &e->capev, e->nev + 1, sizeof *e->ev))
        return NULL; /* out of memory: the event is lost, the state is not */
    sla_event *v = &e->ev[e->nev++];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->interaction = it->id;
    v->policy = it->policy;
    v->at_ms = at;
    v->target = k < 0 ? SLA_TARGETS : (sla_target)k;
    if (k >= 0) {
        const sla_clock *c = &it->c[k];
        v->cycle = c->cycle;
        v->breached = c->breached;
        v->target_ms = c->target_ms;
        v->elapsed_ms = c->business ? c->elapsed_biz_ms : c->elapsed_ms;
    }
    return v;
}

size_t sla_events(sla_engine *e, sla_event *out, size_t max)
{
    size_t n = e->nev - e->headev;
    if (n > max)
        n = max;
    if (n)
        memcpy(out, e->ev + e->headev, n * sizeof *out);
    e->headev += n;
    return n;
}

/* --- clocks --- */

static const calendar *cal_of(const sla_engine *e, const item *it)
{
    const client *c = it->client == UINT32_MAX ? NULL : &e->clients[it->client];
    return c && c->cal ? c->cal : e->always;
}

static const policy *policy_of(const sla_engine *e, const item *it)
{
    if (it->pidx < 0)
        return NULL;
    return &e->clients[it->client].pol->p[it->pidx];
}

static int active(const sla_clock *c)
{
    return c->state == SLA_RUNNING || c->state == SLA_PAUSED;
}

/* Counts a running clock's time up to now. */
static void settle(sla_engine *e, item *it, int k)
{
    sla_clock *c = &it->c[k];
    if (c->state != SLA_RUNNING || c->since_ms >= e->now)
        return;
    c->elapsed_ms += e->now - c->since_ms;
    c->elapsed_biz_ms += calendar_business_between(cal_of(e, it), c->since_ms, e->now);
    c->since_ms = e->now;
}

/* The instant a running clock's elapsed time reaches x. */
static int64_t reach(const sla_engine *e, const item *it, const sla_clock *c, int64_t x)
{
    int64_t el = c->business ? c->elapsed_biz_ms : c->elapsed_ms;
    if (el >= x)
        return c->since_ms;
    if (!c->business)
        return c->since_ms + (x - el);
    return calendar_add_business_ms(cal_of(e, it), c->since_ms, x - el);
}

/* The clock's next timer: the warning, then the breach; none once breached. */
static int64_t next_key(const sla_clock *c)
{
    if (c->breached)
        return INT64_MAX;
    return !c->warned && c->warn_ms ? c->warn_at_ms : c->due_at_ms;
}

/* Re-computes a clock's due instants and its timer. */
static void schedule(sla_engine *e, item *it, int k)
{
    sla_clock *c = &it->c[k];
    if (c->state != SLA_RUNNING || !c->target_ms) {
        if (!c->warned)
            c->warn_at_ms = INT64_MAX;
        if (!c->breached)
            c->due_at_ms = INT64_MAX;
        heap_remove(e, it, k);
        return;
    }
    if (c->breached) { /* nothing left to fire; due_at_ms says when it fell due */
        heap_remove(e, it, k);
        return;
    }
    if (!c->warned)
        c->warn_at_ms = c->warn_ms ? reach(e, it, c, c->warn_ms) : INT64_MAX;
    c->due_at_ms = reach(e, it, c, c->target_ms);
    heap_set(e, it, k, next_key(c));
}

/* The policy's target for clock k (elapsed time and flags stay). */
static void set_target(const sla_engine *e, item *it, int k)
{
    const policy *p = policy_of(e, it);
    sla_clock *c = &it->c[k];
    c->target_ms = p ? p->target_ms[k] : 0;
    c->business = p ? p->business[k] : 0;
    c->warn_ms = p ? (int64_t)((double)c->target_ms * p->warning) : 0;
}

static void start(sla_engine *e, item *it, int k)
{
    sla_clock *c = &it->c[k];
    uint32_t cycle = c->cycle + 1;
    memset(c, 0, sizeof *c);
    c->cycle = cycle;
    c->state = it->pending ? SLA_PAUSED : SLA_RUNNING;
    c->since_ms = c->started_ms = e->now;
    set_target(e, it, k);
    schedule(e, it, k);
}

static void finish(sla_engine *e, item *it, int k, sla_state st)
{
    sla_clock *c = &it->c[k];
    if (!active(c))
        return;
    settle(e, it, k);
    c->state = (uint8_t)st;
    c->ended_ms = e->now;
    schedule(e, it, k);
    if (st == SLA_FULFILLED && c->target_ms)
        emit(e, SLA_E_FULFILLED, it, k, e->now);
}

static sla_attrs attrs_of(const sla_engine *e, const item *it)
{
    sla_attrs a = {it->client == UINT32_MAX ? 0 : e->clients[it->client].id,
                   it->queue,
                   it->category,
                   it->priority,
                   it->tier,
                   it->channel};
    return a;
}

/* Matches the item again; with `emit_always` APPLIED even when the policy
 * stays (a new item). */
static void rematch(sla_engine *e, item *it, int emit_always)
{
    const client *cl = it->client == UINT32_MAX ? NULL : &e->clients[it->client];
    sla_attrs a = attrs_of(e, it);
    int idx = cl ? match_index(cl->pol, &a) : -1;
    int64_t id = idx < 0 ? 0 : cl->pol->p[idx].id;
    it->pidx = idx;
    int changed = id != it->policy;
    it->policy = id;
    if (changed || (emit_always && id))
        emit(e, SLA_E_APPLIED, it, -1, e->now);
    for (int k = 0; k < SLA_TARGETS; k++)
        if (active(&it->c[k])) {
            settle(e, it, k);
            set_target(e, it, k);
            schedule(e, it, k);
        }
}

/* Fires what is due by now. */
static void fire(sla_engine *e)
{
    while (e->nheap && e->heap[0].at <= e->now) {
        hent h = e->heap[0];
        item *it = &e->items[h.item];
        sla_clock *c = &it->c[h.kind];
        int warn = !c->warned && c->warn_ms;
        if (warn)
            c->warned = 1;
        else
            c->breached = 1;
        sla_event *v = emit(e, warn ? SLA_E_WARNING : SLA_E_BREACHED, it, (int)h.kind, h.at);
        /* The event reports the threshold it crossed (or more, when a new
         * target was already passed). */
        int64_t el = c->business ? c->elapsed_biz_ms : c->elapsed_ms,
                th = warn ? c->warn_ms : c->target_ms;
        if (v)
            v->elapsed_ms = el > th ? el : th;
        heap_set(e, it, (int)h.kind, next_key(c));
    }
}

static void advance(sla_engine *e, int64_t now)
{
    if (now > e->now)
        e->now = now;
    fire(e);
}

int sla_tick(sla_engine *e, int64_t now)
{
    advance(e, now);
    return 0;
}

int64_t sla_next_deadline(const sla_engine *e)
{
    return e->nheap ? e->heap[0].at : INT64_MAX;
}

static int attrs_ok(const sla_attrs *a)
{
    return a && a->client > 0 && a->queue >= 0 && a->priority <= 3 && a->tier <= 2 &&
           a->channel <= 4 && (!a->category || strlen(a->category) <= SLA_MAX_CATEGORY);
}

static uint32_t client_index(const sla_engine *e, int64_t id)
{
    for (size_t i = 0; i < e->nclients; i++)
        if (e->clients[i].id == id)
            return (uint32_t)i;
    return UINT32_MAX;
}

/* Room for one more item, its map slot and its timers. */
static int reserve(sla_engine *e)
{
    if (grow((void **)&e->heap, &e->capheap, e->nheap + SLA_TARGETS, sizeof *e->heap) ||
        map_reserve(e, e->live + 1))
        return CD_ENOMEM;
    if (!e->nfree && e->nitems == e->capitems) {
        size_t cap = e->capitems ? e->capitems * 2 : 64;
        item *ni = cd_realloc(e->items, cap * sizeof *ni);
        if (!ni)
            return CD_ENOMEM;
        e->items = ni;
        uint32_t *nf = cd_realloc(e->freel, cap * sizeof *nf);
        if (!nf)
            return CD_ENOMEM; /* items has room; capitems grows with the next try */
        e->freel = nf;
        e->capitems = cap;
    }
    return 0;
}

static item *new_item(sla_engine *e, int64_t id)
{
    uint32_t idx = e->nfree ? e->freel[--e->nfree] : (uint32_t)e->nitems++;
    item *it = &e->items[idx];
    memset(it, 0, sizeof *it);
    it->id = id;
    it->used = 1;
    it->pidx = -1;
    e->map[slot_of(e, id)] = idx + 1;
    e->live++;
    return it;
}

int sla_open(sla_engine *e, int64_t interaction, const sla_attrs *a, int64_t now)
{
    const char *cat;
    if (interaction <= 0 || !attrs_ok(a))
        return CD_EINVAL;
    if (find(e, interaction))
        return CD_ECONFLICT;
    if (reserve(e) || intern(e, a->category, &cat))
        return CD_ENOMEM;
    advance(e, now);
    item *it = new_item(e, interaction);
    it->client = client_index(e, a->client);
    it->queue = a->queue;
    it->category = cat;
    it->priority = a->priority;
    it->tier = a->tier;
    it->channel = a->channel;
    if (it->client == UINT32_MAX) { /* unknown client: keep its id for later */
        if (grow((void **)&e->clients, &e->capclients, e->nclients + 1, sizeof *e->clients)) {
            sla_forget(e, interaction);
            return CD_ENOMEM;
        }
        e->clients[e->nclients] = (client){a->client, NULL, NULL};
        it->client = (uint32_t)e->nclients++;
    }
    rematch(e, it, 1);
    start(e, it, SLA_FIRST_RESPONSE);
    start(e, it, SLA_PERIODIC_UPDATE);
    start(e, it, SLA_RESOLUTION);
    return 0;
}

static int lookup(sla_engine *e, int64_t id, item **out)
{
    if (id <= 0)
        return CD_EINVAL;
    item *it = find(e, id);
    if (!it)
        return CD_ENOTFOUND;
    if (it->resolved)
        return CD_ESTATE;
    *out = it;
    return 0;
}

int sla_change(sla_engine *e, int64_t interaction, const sla_attrs *a, int64_t now)
{
    item *it;
    const char *cat;
    int rc = attrs_ok(a) ? lookup(e, interaction, &it) : CD_EINVAL;
    if (rc)
        return rc;
    if (e->clients[it->client].id != a->client)
        return CD_EINVAL;
    if (intern(e, a->category, &cat))
        return CD_ENOMEM;
    advance(e, now);
    it->queue = a->queue;
    it->category = cat;
    it->priority = a->priority;
    it->tier = a->tier;
    it->channel = a->channel;
    rematch(e, it, 0);
    return 0;
}

static void set_pending(sla_engine *e, item *it, int pending)
{
    if (it->pending == pending)
        return;
    it->pending = (uint8_t)pending;
    for (int k = 0; k < SLA_TARGETS; k++) {
        sla_clock *c = &it->c[k];
        if (!active(c))
            continue;
        settle(e, it, k);
        c->state = pending ? SLA_PAUSED : SLA_RUNNING;
        c->since_ms = e->now;
        schedule(e, it, k);
    }
}

int sla_pending(sla_engine *e, int64_t interaction, int pending, int64_t now)
{
    item *it;
    int rc = lookup(e, interaction, &it);
    if (rc)
        return rc;
    advance(e, now);
    set_pending(e, it, pending != 0);
    return 0;
}

int sla_agent_reply(sla_engine *e, int64_t interaction, int64_t now)
{
    item *it;
    int rc = lookup(e, interaction, &it);
    if (rc)
        return rc;
    advance(e, now);
    finish(e, it, SLA_FIRST_RESPONSE, SLA_FULFILLED);
    it->responded = 1;
    finish(e, it, SLA_NEXT_RESPONSE, SLA_FULFILLED);
    if (active(&it->c[SLA_PERIODIC_UPDATE])) {
        finish(e, it, SLA_PERIODIC_UPDATE, SLA_FULFILLED);
        start(e, it, SLA_PERIODIC_UPDATE);
    }
    return 0;
}

int sla_customer_reply(sla_engine *e, int64_t interaction, int64_t now)
{
    item *it;
    int rc = lookup(e, interaction, &it);
    if (rc)
        return rc;
    advance(e, now);
    set_pending(e, it, 0);
    if (it->responded && !active(&it->c[SLA_NEXT_RESPONSE]))
        start(e, it, SLA_NEXT_RESPONSE);
    return 0;
}

int sla_resolve(sla_engine *e, int64_t interaction, int64_t now)
{
    item *it;
    int rc = lookup(e, interaction, &it);
    if (rc)
        return rc;
    advance(e, now);
    finish(e, it, SLA_RESOLUTION, SLA_FULFILLED);
    for (int k = 0; k < SLA_TARGETS; k++)
        finish(e, it, k, SLA_STOPPED);
    it->resolved = 1;
    return 0;
}

int sla_forget(sla_engine *e, int64_t interaction)
{
    item *it = interaction > 0 ? find(e, interaction) : NULL;
    if (!it)
        return interaction > 0 ? CD_ENOTFOUND : CD_EINVAL;
    for (int k = 0; k < SLA_TARGETS; k++)
        heap_remove(e, it, k);
    map_delete(e, interaction);
    it->used = 0;
    e->freel[e->nfree++] = (uint32_t)(it - e->items);
    e->live--;
    return 0;
}

int sla_client_set(sla_engine *e, int64_t client_id, calendar *cal, sla_policies *pol, int64_t now)
{
    if (client_id <= 0)
        return CD_EINVAL;
    uint32_t ci = client_index(e, client_id);
    if (ci == UINT32_MAX) {
        if (grow((void **)&e->clients, &e->capclients, e->nclients + 1, sizeof *e->clients))
            return CD_ENOMEM;
        e->clients[e->nclients] = (client){client_id, NULL, NULL};
        ci = (uint32_t)e->nclients++;
    }
    advance(e, now);
    /* Time so far counts on the old calendar. */
    for (size_t i = 0; i < e->nitems; i++) {
        item *it = &e->items[i];
        if (it->used && it->client == ci)
            for (int k = 0; k < SLA_TARGETS; k++)
                settle(e, it, k);
    }
    client *cl = &e->clients[ci];
    calendar_free(cl->cal);
    sla_policies_free(cl->pol);
    cl->cal = cal;
    cl->pol = pol;
    for (size_t i = 0; i < e->nitems; i++) {
        item *it = &e->items[i];
        if (it->used && it->client == ci && !it->resolved)
            rematch(e, it, 0);
        else if (it->used && it->client == ci)
            it->pidx = -1; /* resolved: keeps its record, no longer indexes the set */
    }
    return 0;
}

/* --- views and persistence ------------------------------------------------- */

int sla_view_get(const sla_engine *e, int64_t interaction, int64_t now, sla_view *out)
{
    const item *it = interaction > 0 ? find(e, interaction) : NULL;
    if (!it)
        return interaction > 0 ? CD_ENOTFOUND : CD_EINVAL;
    if (now < e->now)
        now = e->now;
    memset(out, 0, sizeof *out);
    out->policy = it->policy;
    out->pending = it->pending;
    out->resolved = it->resolved;
    for (int k = 0; k < SLA_TARGETS; k++) {
        const sla_clock *c = &it->c[k];
        sla_clock_view *v = &out->clocks[k];
        v->state = (sla_state)c->state;
        v->business = c->business;
        v->warned = c->warned;
        v->breached = c->breached;
        v->cycle = c->cycle;
        v->target_ms = c->target_ms;
        v->elapsed_ms = c->business ? c->elapsed_biz_ms : c->elapsed_ms;
        if (c->state == SLA_RUNNING && now > c->since_ms)
            v->elapsed_ms += c->business
                                 ? calendar_business_between(cal_of(e, it), c->since_ms, now)
                                 : now - c->since_ms;
        v->remaining_ms = c->target_ms ? c->target_ms - v->elapsed_ms : 0;
        v->due_ms = c->state == SLA_RUNNING && c->target_ms ? c->due_at_ms : INT64_MAX;
    }
    return 0;
}

int sla_record_get(const sla_engine *e, int64_t interaction, sla_record *out)
{
    const item *it = interaction > 0 ? find(e, interaction) : NULL;
    if (!it)
        return interaction > 0 ? CD_ENOTFOUND : CD_EINVAL;
    memset(out, 0, sizeof *out);
    out->interaction = it->id;
    out->client = e->clients[it->client].id;
    out->queue = it->queue;
    out->policy = it->policy;
    if (it->category)
        snprintf(out->category, sizeof out->category, "%s", it->category);
    out->priority = it->priority;
    out->tier = it->tier;
    out->channel = it->channel;
    out->pending = it->pending;
    out->responded = it->responded;
    out->resolved = it->resolved;
    memcpy(out->clocks, it->c, sizeof out->clocks);
    return 0;
}

int sla_restore(sla_engine *e, const sla_record *r, int64_t now)
{
    sla_attrs a = {r->client, r->queue, r->category, r->priority, r->tier, r->channel};
    const char *cat;
    if (r->interaction <= 0 || !attrs_ok(&a) || memchr(r->category, 0, sizeof r->category) == NULL)
        return CD_EINVAL;
    for (int k = 0; k < SLA_TARGETS; k++)
        if (r->clocks[k].state > SLA_STOPPED)
            return CD_EINVAL;
    if (find(e, r->interaction))
        return CD_ECONFLICT;
    uint32_t ci = client_index(e, r->client);
    if (reserve(e) || intern(e, r->category, &cat) ||
        (ci == UINT32_MAX &&
         grow((void **)&e->clients, &e->capclients, e->nclients + 1, sizeof *e->clients)))
        return CD_ENOMEM;
    if (ci == UINT32_MAX) {
        e->clients[e->nclients] = (client){r->client, NULL, NULL};
        ci = (uint32_t)e->nclients++;
    }
    if (now > e->now)
        e->now = now;
    item *it = new_item(e, r->interaction);
    it->client = ci;
    it->queue = r->queue;
    it->category = cat;
    it->priority = r->priority;
    it->tier = r->tier;
    it->channel = r->channel;
    it->pending = r->pending != 0;
    it->responded = r->responded != 0;
    it->resolved = r->resolved != 0;
    it->policy = r->policy;
    const sla_policies *ps = e->clients[ci].pol;
    for (size_t i = 0; ps && i < ps->n && !it->resolved; i++)
        if (ps->p[i].id == r->policy)
            it->pidx = (int32_t)i;
    memcpy(it->c, r->clocks, sizeof it->c);
    for (int k = 0; k < SLA_TARGETS; k++)
        schedule(e, it, k);
    return 0;
}

/* cd_mem.c - allocation wrapper with counting and failure injection. */
#include "core/cd_mem.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Process-wide by nature: the allocator is. Atomic so threads may share it. */
static atomic_ulong alloc_count;
static atomic_ulong fail_at; /* 0 = never */

static int should_fail(void)
{
    unsigned long n = atomic_fetch_add(&alloc_count, 1) + 1;
    unsigned long f = atomic_load(&fail_at);
    return f != 0 && n >= f;
}

#define HUGE_PAGE ((uintptr_t)2 << 20)

void cd_mem_hint_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    uintptr_t z = ((uintptr_t)p + n) & ~(HUGE_PAGE - 1);
    if (p && z > a)
        madvise((void *)a, z - a, MADV_HUGEPAGE); /* a hint: its outcome changes nothing */
#else
    (void)p;
    (void)n;
#endif
}

void *cd_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n ? n : 1);
}

void *cd_calloc(size_t count, size_t n)
{
    return should_fail() ? NULL : calloc(count ? count : 1, n ? n : 1);
}

void *cd_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n ? n : 1);
}

char *cd_strndup(const char *s, size_t n)
{
    char *d = cd_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *cd_strdup(const char *s)
{
    return cd_strndup(s, strlen(s));
}

void cd_free(void *p)
{
    free(p);
}

void cd_mem_install(void)
{
    json_set_alloc_funcs(cd_malloc, cd_free);
}

unsigned long cd_mem_count(void)
{
    return atomic_load(&alloc_count);
}

void cd_mem_fail_after(unsigned long n)
{
    atomic_store(&fail_at, n ? atomic_load(&alloc_count) + n : 0);
}

/* cd_mem.h - the one allocation wrapper.
 *
 * Every allocation in caredesk goes through these, so tests can count
 * allocations and make the n-th one fail. jansson is pointed at them too
 * (cd_mem_install). */
#ifndef CD_MEM_H
#define CD_MEM_H

#include <stddef.h>

void *cd_malloc(size_t n);
void *cd_calloc(size_t count, size_t n);
void *cd_realloc(void *p, size_t n);
char *cd_strdup(const char *s);
char *cd_strndup(const char *s, size_t n);
void cd_free(void *p);

/* A hint for a large table read at random: back the 2 MiB-aligned part of
 * [p, p + n) with huge pages, so that fewer reads miss the TLB. Only pages
 * not yet touched are affected; does nothing for small n or where the
 * system has no transparent huge pages. */
void cd_mem_hint_huge(void *p, size_t n);

/* Makes jansson allocate through cd_malloc/cd_free. Call once at start. */
void cd_mem_install(void);

/* Test hooks: the number of allocations so far, and making allocation
 * number n (counted from now, 1-based) and every later one fail; 0 turns
 * failure injection off. */
unsigned long cd_mem_count(void);
void cd_mem_fail_after(unsigned long n);

#endif

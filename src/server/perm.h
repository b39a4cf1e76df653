/* perm.h - the one permission table: which role may do which action. */
#ifndef PERM_H
#define PERM_H

/* Returns 1 if role may perform action (e.g. "interaction.write"). */
int perm_allows(const char *role, const char *action);

#endif

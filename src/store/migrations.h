/* migrations.h - the numbered schema migrations compiled into the binary. */
#ifndef STORE_MIGRATIONS_H
#define STORE_MIGRATIONS_H

typedef struct store_migration {
    const char *name; /* "001_init": the number orders them */
    const char *sql;  /* portable SQL; "@ID@" stands for the backend's id column */
} store_migration;

/* Terminated by an entry whose name is NULL. */
extern const store_migration store_migrations[];

#endif

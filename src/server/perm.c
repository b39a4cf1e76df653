/* perm.c - role x action. Tenant boundaries are the store's job; this table
 * only says what kind of thing each role may do at all. */
#include "server/perm.h"

#include <string.h>

typedef struct {
    const char *action;
    /* admin, supervisor, agent, qa, wfm, client_viewer */
    unsigned char allow[6];
} perm_row;

static const char *const roles[] = {"admin", "supervisor", "agent", "qa", "wfm", "client_viewer"};

/* clang-format off */
static const perm_row table[] = {
    /*                          adm sup agt qa wfm cv */
    {"client.read",            {1, 1, 1, 1, 1, 1}},
    {"client.write",           {1, 0, 0, 0, 0, 0}},
    {"user.read",              {1, 1, 1, 1, 1, 0}},
    {"user.write",             {1, 0, 0, 0, 0, 0}},
    {"customer.read",          {1, 1, 1, 1, 0, 0}},
    {"customer.write",         {1, 1, 1, 0, 0, 0}},
    {"customer.reveal",        {1, 1, 1, 0, 0, 0}},
    {"interaction.read",       {1, 1, 1, 1, 1, 1}},
    {"interaction.write",      {1, 1, 1, 0, 0, 0}},
    {"message.write",          {1, 1, 1, 0, 0, 0}},
    {"event.read",             {1, 1, 1, 1, 0, 0}},
    {"token.manage",           {1, 1, 1, 1, 1, 1}},
    {"audit.read",             {1, 0, 0, 0, 0, 0}},
    {"queue.read",             {1, 1, 1, 1, 1, 0}},
    {"queue.write",            {1, 1, 0, 0, 0, 0}},
    {"agent.state",            {1, 1, 1, 0, 0, 0}},
    {"supervisor.view",        {1, 1, 0, 0, 1, 1}},
    {"workflow.read",          {1, 1, 1, 1, 0, 0}},
    {"kb.read",                {1, 1, 1, 1, 0, 1}},
    {"rule.read",              {1, 1, 0, 1, 0, 0}},
    {"sla.read",               {1, 1, 1, 1, 1, 1}},
    {"sla.write",              {1, 1, 0, 0, 0, 0}},
    {"rule.write",             {1, 1, 0, 0, 0, 0}},
    {"kb.write",               {1, 1, 0, 0, 0, 0}},
    {"workflow.write",         {1, 1, 0, 0, 0, 0}},
};
/* clang-format on */

int perm_allows(const char *role, const char *action)
{
    int r = -1;
    for (int i = 0; i < 6; i++)
        if (role && strcmp(role, roles[i]) == 0)
            r = i;
    if (r < 0)
        return 0;
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (strcmp(table[i].action, action) == 0)
            return table[i].allow[r];
    return 0;
}

/* api_mail.c - the email channel: a client's mail settings and the email
 * view of an interaction (every message received or sent by email, with
 * its delivery status). */
#include "server/routes.h"

int api_mail_settings_get(req *r)
{
    return req_reply(r, 200, store_mail_settings_get(r->tx, r->ids[0], &r->out));
}

int api_mail_settings_update(req *r)
{
    return req_reply(r, 200, store_mail_settings_set(r->tx, r->ids[0], r->in, &r->out));
}

int api_email_list(req *r)
{
    return req_reply(r, 200, store_mail_list(r->tx, r->ids[0], &r->out));
}

/* cmd_demo.c - caredesk demo: seeds a realistic, deterministic demo.
 *
 * Two clients with different brands, a supervisor and agents serving both,
 * QA, WFM and a client viewer, customers reachable on several channels and
 * a few hundred interactions with their conversations. The same seed gives
 * the same data (times are laid out from a fixed start, 2026-11-09). */
#include "cli/cli.h"

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/flow.h"
#include "core/sentiment.h"
#include "core/vault.h"
#include "server/auth.h"
#include "server/intents.h"

#include <dirent.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define DEMO_PASSWORD "caredesk-demo"
#define DEMO_START_MS 1794211200000LL /* 2026-11-09T08:00:00Z */
#define CUSTOMERS_PER_CLIENT 40
#define INTERACTIONS_PER_CLIENT 160

typedef struct rng {
    uint64_t s;
} rng;

/* splitmix64: small, fast and the same everywhere. */
static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int rng_below(rng *r, int n)
{
    return (int)(rng_next(r) % (uint64_t)n);
}

#define PICK(r, arr) ((arr)[rng_below((r), (int)(sizeof(arr) / sizeof *(arr)))])

typedef struct demo_client {
    const char *slug, *name, *display, *from, *signature, *tone, *tz, *domain;
    const char *subjects[8];
    const char *openers[8];
    const char *replies[6];
    const char *queues[3];
    const char *tags[5];
    const char *categories[8]; /* of the topics: what resolved interactions are filed as */
    const char *fresh[3];      /* new customer messages, worded unlike the topics' openers */
} demo_client;

static const demo_client clients[] = {
    {"northwind-energy",
     "Northwind Energy Ltd",
     "Northwind Energy",
     "care@northwind-energy.example",
     "Warm regards,\nThe Northwind Energy care team",
     "Warm, plain-spoken, no jargon. Always give the next step and a time frame.",
     "Europe/London",
     "mail.example",
     {"Bill higher than usual", "Power outage on my street", "Moving house next month",
      "Smart meter not sending readings", "Direct debit change", "Tariff renewal question",
      "Refund for overpayment", "Engineer appointment"},
     {"Hi, my bill this month is almost double the last one and nothing changed at home.",
      "We have had no power since 7am, is there an outage in my area?",
      "I am moving out on the 30th, how do I close my account and give a final reading?",
      "My smart meter display says it has not sent a reading for three weeks.",
      "I need to change the bank account my direct debit comes from.",
      "My fixed tariff ends soon, what are my options?",
      "My account is in credit by quite a lot, can I get a refund?",
      "The engineer did not turn up for my appointment yesterday."},
     {"Thanks for getting in touch. I have checked your account and can see what happened.",
      "I am sorry for the trouble. I have raised this with our field team today.",
      "That is all updated for you now. You will get a confirmation email shortly.",
      "Could you send us a photo of your meter reading so I can correct the bill?",
      "I have booked a new appointment for you and added a note for the engineer.",
      "Your refund is on its way and should reach your bank in 3 to 5 working days."},
     {"billing", "faults", "moves"},
     {"bill-shock", "outage", "smart-meter", "refund", "vulnerable"},
     {"billing", "outage", "moving", "smart-meter", "direct-debit", "tariff", "refund",
      "appointment"},
     {"The lights went out an hour ago and the whole street is dark. Any news?",
      "Why has my latest bill doubled? I have not used more than usual.",
      "We are moving house on the 30th, please close the account at the old address."}},
    {"blue-harbor-bank",
     "Blue Harbor Bank N.A.",
     "Blue Harbor Bank",
     "support@blueharbor-bank.example",
     "Kind regards,\nBlue Harbor Bank Customer Care",
     "Formal and precise. Never ask for full card numbers or PINs. Verify identity first.",
     "America/New_York",
     "inbox.example",
     {"Card declined abroad", "Unrecognised transaction", "Lost debit card",
      "Mortgage payment date", "Online banking locked", "Wire transfer status",
      "Overdraft fee dispute", "Update mailing address"},
     {"My card was declined at a hotel in Lisbon even though I have funds.",
      "There is a charge on my statement I do not recognise from a merchant I never used.",
      "I lost my debit card this morning, please block it.",
      "Can I move my mortgage payment date to the 15th of each month?",
      "I am locked out of online banking after entering the wrong password.",
      "I sent a wire transfer on Monday and the recipient has not received it.",
      "I was charged an overdraft fee but my salary arrived the same day.",
      "I have moved and need to update my mailing address."},
     {"Thank you for contacting Blue Harbor Bank. I have verified your identity.",
      "For your security I have placed a temporary block on the card.",
      "I have opened a dispute for this transaction; you will hear from us within 10 days.",
      "Your request has been completed and the change is effective immediately.",
      "I have refunded the fee as a one-time courtesy.",
      "The transfer was released this morning and should arrive today."},
     {"cards", "disputes", "accounts"},
     {"fraud", "card", "dispute", "kyc", "courtesy-refund"},
     {"card-declined", "dispute", "lost-card", "mortgage", "online-banking", "wire-transfer",
      "fees", "address-change"},
     {"My debit card was stolen from my bag this afternoon, please stop it.",
      "I do not recognise a payment of 240 dollars to an online shop on my statement.",
      "My card keeps getting declined in Canada although there is money in the account."}},
};

/* Knowledge-base articles per client, one per common topic. */
static const struct demo_article {
    int client;
    const char *title, *tags, *audience, *body;
} articles[] = {
    {0, "Why is my bill higher than usual?", "billing,bill-shock", "public",
     "A bill can rise when an estimated reading is replaced by an actual one, when the "
     "weather was colder, or when a fixed tariff ended.\n\n1. Check the readings on the bill "
     "against the meter.\n2. Ask for a photo of the meter if the reading looks wrong.\n3. If "
     "the bill was estimated, correct the reading and re-issue the bill."},
    {0, "Power outage: what to tell the customer", "faults,outage", "internal",
     "Check the outage map for the postcode first. If there is a known fault, give the "
     "estimated restoration time. If not, ask the customer to check the trip switches in "
     "the fuse box, then raise a fault with the field team. Vulnerable customers on the "
     "priority register get a call back within one hour."},
    {0, "Moving house: closing the account", "moves", "public",
     "Ask for the moving date and the new address. Take a final meter reading on the "
     "day, or ask the customer to send a photo. The final bill goes to the new address "
     "within 14 days; any credit is refunded to the account on file."},
    {0, "Smart meter not sending readings", "smart-meter,faults", "internal",
     "A smart meter that has not sent a reading for more than 7 days usually lost its "
     "signal. Ask the customer to check the in-home display, then reset the communications "
     "hub. If readings do not resume within 48 hours, book an engineer appointment."},
    {0, "Changing the direct debit bank account", "billing", "public",
     "The customer can change the bank account for their direct debit online or with an "
     "agent. Verify identity, take the new sort code and account number, and confirm the "
     "date of the next payment. Changes need five working days before the payment date."},
    {0, "Tariff renewal options", "billing", "public",
     "When a fixed tariff ends, the customer moves to the standard variable tariff unless "
     "they choose a new fix. Explain the fixed and variable options, the exit fees, and "
     "the date the new tariff starts."},
    {0, "Refunding account credit", "billing,refund", "internal",
     "A customer in credit can ask for a refund of the balance above one month of usage. "
     "Check the latest reading is actual, then refund to the bank account on file. "
     "Refunds reach the account within 5 working days."},
    {0, "Missed engineer appointment", "faults", "internal",
     "Apologise, check the job notes for the reason, and book the first available "
     "appointment. A missed appointment earns the customer a goodwill credit of 30 pounds; "
     "add it to the account and note it on the interaction."},
    {1, "Card declined abroad", "cards,card", "public",
     "Cards can be declined abroad when a transaction looks unusual. Verify identity, "
     "check for a fraud block on the card, and remove it once the customer confirms the "
     "transaction. Suggest adding a travel notice for future trips."},
    {1, "Disputing an unrecognised transaction", "disputes,dispute,fraud", "internal",
     "Verify identity, then go through the transaction with the customer: merchant name, "
     "amount, date. If they do not recognise it, block the card, open a dispute, and issue "
     "a replacement card. The customer hears from the disputes team within 10 days."},
    {1, "Lost or stolen debit card", "cards,card,fraud", "public",
     "Block the card at once, then check recent transactions with the customer. Order a "
     "replacement card, which arrives within 5 working days, and offer a digital card for "
     "immediate use in the mobile app."},
    {1, "Changing a mortgage payment date", "accounts", "internal",
     "A mortgage payment date can move to any day between the 1st and the 28th. The first "
     "payment after the change may include extra interest for the days in between. Confirm "
     "the new date and send the written confirmation."},
    {1, "Online banking locked after failed logins", "accounts,kyc", "public",
     "After three wrong passwords online banking locks for security. Verify identity with "
     "two security questions, unlock the profile, and ask the customer to reset the "
     "password. Never ask for the full password or the PIN."},
    {1, "Wire transfer not received", "accounts", "internal",
     "Check the transfer status and the reference. Domestic wires arrive the same day; "
     "international wires take up to 3 business days. If the transfer is held for review, "
     "tell the customer and escalate to the payments team."},
    {1, "Overdraft fee disputes", "disputes,courtesy-refund", "internal",
     "If the salary arrived the same day as the overdraft, a one-time courtesy refund of "
     "the fee is allowed once per 12 months. Check the account history, refund the fee, "
     "and note the courtesy refund on the account."},
    {1, "Updating a mailing address", "accounts,kyc", "public",
     "Verify identity, take the new address, and confirm it back to the customer. A "
     "confirmation letter goes to both the old and the new address."},
};

static const char *first_names[] = {"Olivia", "Liam",  "Amara", "Noah",   "Sofia",  "Mateo",
                                    "Priya",  "Lucas", "Chen",  "Fatima", "Jonas",  "Aisha",
                                    "Diego",  "Mia",   "Kenji", "Zara",   "Tomasz", "Leila"};
static const char *last_names[] = {"Okafor", "Smith",  "Garcia", "Nguyen", "Kowalski",
                                   "Haddad", "Brown",  "Silva",  "Tanaka", "Müller",
                                   "Patel",  "O'Neil", "Rossi",  "Ahmed",  "Johansson"};
static const char *channels[] = {"email", "email", "chat", "chat", "voice", "social", "web"};
static const char *priorities[] = {"low", "normal", "normal", "normal", "high", "urgent"};
static const char *statuses[] = {"new",      "open",     "open",   "pending", "on_hold",
                                 "resolved", "resolved", "closed", "closed",  "closed"};

typedef struct demo {
    store *st;
    rng r;
    int64_t client_ids[2];
    int64_t agent_ids[2][3];
    int nagents[2];
    int64_t customer_ids[2][CUSTOMERS_PER_CLIENT];
    char password_hash[crypto_pwhash_STRBYTES];
    int sealed; /* a key file is loaded: customers get sensitive fields */
} demo;

/* Runs one write transaction as the system at a given time. */
static int at(demo *d, int64_t when, int (*fn)(demo *, store_tx *, void *), void *arg)
{
    store_ctx ctx;
    store_tx *tx = NULL;
    int rc;
    store_ctx_system(&ctx);
    rc = store_begin(d->st, &ctx, when, 1, &tx);
    if (rc)
        return rc;
    rc = fn(d, tx, arg);
    if (rc) {
        cli_report("demo", tx, rc);
        store_rollback(tx);
        return rc;
    }
    return store_commit(tx);
}

static int seed_clients(demo *d, store_tx *tx, void *arg)
{
    (void)arg;
    for (int i = 0; i < 2; i++) {
        const demo_client *c = &clients[i];
        json_t *out = NULL;
        json_t *in =
            json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "slug", c->slug, "name", c->name,
                      "timezone", c->tz, "brand", "display_name", c->display, "from_address",
                      c->from, "signature", c->signature, "tone_notes", c->tone);
        /* The bank also masks phone numbers in text and seals account numbers. */
        json_object_set_new(
            in, "intent",
            i == 0 ? json_pack("{s:f, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}",
                               "threshold", 0.5, "triage_queue", "triage", "routes", "billing",
                               "billing", "direct-debit", "billing", "tariff", "billing", "refund",
                               "billing", "outage", "faults", "smart-meter", "faults",
                               "appointment", "faults", "moving", "moves")
                   : json_pack("{s:f, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}",
                               "threshold", 0.5, "triage_queue", "triage", "routes",
                               "card-declined", "cards", "lost-card", "cards", "dispute",
                               "disputes", "fees", "disputes", "mortgage", "accounts",
                               "online-banking", "accounts", "wire-transfer", "accounts",
                               "address-change", "accounts"));
        json_object_set_new(
            in, "privacy",
            i == 0 ? json_pack("{s:[s], s:f}", "sensitive_fields", "date_of_birth",
                               "sentiment_alert_below", -0.5)
                   : json_pack("{s:b, s:[s, s], s:f}", "redact_phones", 1, "sensitive_fields",
                               "date_of_birth", "account_number", "sentiment_alert_below", -0.4));
        int rc = store_client_create(tx, in, &out);
        json_decref(in);
        if (rc)
            return rc;
        d->client_ids[i] = json_integer_value(json_object_get(out, "id"));
        json_decref(out);
    }
    return 0;
}

typedef struct demo_user {
    const char *email, *name, *role;
    int serves; /* bit 0: first client, bit 1: second */
    const char *skills;
} demo_user;

static const demo_user users[] = {
    {"admin@caredesk.demo", "Avery Admin", "admin", 0, ""},
    {"sam@caredesk.demo", "Sam Supervisor", "supervisor", 3, "english:5"},
    {"ana@caredesk.demo", "Ana Alvarez", "agent", 3, "english:5,spanish:4,billing:4,cards:3"},
    {"li@caredesk.demo", "Li Wei", "agent", 2, "english:4,mandarin:5,cards:4,disputes:4"},
    {"omar@caredesk.demo", "Omar Haddad", "agent", 1, "english:5,arabic:5,faults:4,moves:3"},
    {"quinn@caredesk.demo", "Quinn QA", "qa", 3, ""},
    {"wendy@caredesk.demo", "Wendy WFM", "wfm", 3, ""},
    {"viewer@northwind.demo", "Nora Northwind", "client_viewer", 1, ""},
};

static json_t *skills_of(const char *spec)
{
    json_t *list = json_array();
    char buf[128], *save = NULL;
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        if (!colon)
            continue;
        *colon = '\0';
        json_array_append_new(list,
                              json_pack("{s:s, s:i}", "name", tok, "proficiency", colon[1] - '0'));
    }
    return list;
}

static int seed_users(demo *d, store_tx *tx, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof users / sizeof *users; i++) {
        const demo_user *u = &users[i];
        json_t *ids = json_array(), *out = NULL;
        for (int c = 0; c < 2; c++)
            if (u->serves & (1 << c))
                json_array_append_new(ids, json_integer(d->client_ids[c]));
        json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "email", u->email, "name", u->name,
                               "role", u->role, "password_hash", d->password_hash, "clients", ids,
                               "skills", skills_of(u->skills));
        int rc = store_user_create(tx, in, &out);
        json_decref(in);
        if (rc)
            return rc;
        for (int c = 0; c < 2; c++)
            if ((u->serves & (1 << c)) && strcmp(u->role, "agent") == 0)
                d->agent_ids[c][d->nagents[c]++] = json_integer_value(json_object_get(out, "id"));
        json_decref(out);
    }
    return 0;
}

static void lower_ascii(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
        else if (*s == '\'' || (unsigned char)*s >= 0x80)
            *s = 'x';
}

static int seed_customers(demo *d, store_tx *tx, void *arg)
{
    int c = *(int *)arg;
    for (int i = 0; i < CUSTOMERS_PER_CLIENT; i++) {
        const char *first = PICK(&d->r, first_names), *last = PICK(&d->r, last_names);
        char name[96], email[160], phone[32], handle[64];
        json_t *ids, *out = NULL;
        snprintf(name, sizeof name, "%s %s", first, last);
        snprintf(email, sizeof email, "%s.%s%d@%s", first, last, i, clients[c].domain);
        lower_ascii(email);
        snprintf(phone, sizeof phone, "+1 (555) %03d-%04d", 100 + c * 100 + i,
                 rng_below(&d->r, 10000));
        snprintf(handle, sizeof handle, "@%s%s%d", first, last, i);
        lower_ascii(handle);
        ids = json_pack("[{s:s, s:s}]", "kind", "email", "value", email);
        if (rng_below(&d->r, 3) > 0)
            json_array_append_new(ids, json_pack("{s:s, s:s}", "kind", "phone", "value", phone));
        if (rng_below(&d->r, 3) == 0)
            json_array_append_new(ids, json_pack("{s:s, s:s}", "kind", "social", "value", handle));
        json_t *in = json_pack("{s:I, s:s, s:s, s:o}", "client_id", (json_int_t)d->client_ids[c],
                               "name", name, "tier",
                               i % 10 == 0  ? "enterprise"
                               : i % 4 == 0 ? "premium"
                                            : "standard",
                               "identities", ids);
        if (d->sealed && i % 4 == 1) { /* sealed at rest, shown masked until revealed */
            char dob[16], account[24];
            snprintf(dob, sizeof dob, "19%02d-%02d-%02d", 50 + i % 50, 1 + i % 12, 1 + i % 28);
            snprintf(account, sizeof account, "BH-%08d", 10000000 + i * 7919);
            json_object_set_new(in, "sensitive",
                                c == 0 ? json_pack("{s:s}", "date_of_birth", dob)
                                       : json_pack("{s:s, s:s}", "date_of_birth", dob,
                                                   "account_number", account));
        }
        int rc = store_customer_create(tx, in, &out);
        json_decref(in);
        if (rc)
            return rc;
        d->customer_ids[c][i] = json_integer_value(json_object_get(out, "id"));
        json_decref(out);
    }
    return 0;
}

typedef struct one_interaction {
    int client, n;
    int64_t id, agent; /* filled in by seed_interaction */
    const char *status;
    int turns, turn;
} one_interaction;

/* One message of the conversation after the opening one: a note and replies
 * by the agent, follow-ups by the customer. */
static int seed_turn(demo *d, store_tx *tx, void *arg)
{
    one_interaction *oi = arg;
    const demo_client *dc = &clients[oi->client];
    json_t *in, *out = NULL;
    int t = oi->turn, rc = 0;
    if (oi->agent)
        rc = store_tx_authenticate(tx, oi->agent, "agent");
    if (rc)
        return rc;
    /* Customers' follow-ups: some pleased, some upset, one with a card
     * number typed in (it is stored masked). */
    static const char *const followups[] = {
        "Thanks, that helps. One more question though.",
        "This is the third time I am writing and NOTHING has changed. Very disappointed!",
        "Great, thank you so much for the quick help!",
        "Ok. Can you charge the balance to my card 4111 1111 1111 1111, expiry 04/28?",
        "I am still waiting and honestly getting frustrated.",
        "Perfect, all sorted now :)",
    };
    if (t % 2 == 0)
        in = json_pack("{s:s, s:s}", "direction", t == 0 ? "note" : "inbound", "body",
                       t == 0 ? "Checked the account history before replying."
                              : followups[(size_t)(oi->n + t) % (sizeof followups /
                                                                 sizeof *followups)]);
    else
        in = json_pack("{s:s, s:s}", "direction", "outbound", "body", PICK(&d->r, dc->replies));
    rc = store_message_add(tx, oi->id, in, &out);
    json_decref(in);
    json_decref(out);
    return rc;
}

/* The agent moves the interaction to where the demo wants it. */
static int seed_status(demo *d, store_tx *tx, void *arg)
{
    one_interaction *oi = arg;
    json_t *patch = json_pack("{s:s}", "status", oi->status), *out = NULL;
    int rc = oi->agent ? store_tx_authenticate(tx, oi->agent, "agent") : 0;
    (void)d;
    if (!rc)
        rc = store_interaction_update(tx, oi->id, patch, &out);
    json_decref(patch);
    json_decref(out);
    return rc;
}

static int seed_interaction(demo *d, store_tx *tx, void *arg)
{
    one_interaction *oi = arg;
    const demo_client *dc = &clients[oi->client];
    int topic = rng_below(&d->r, 8);
    /* A few customers come back often, on several channels. */
    int who =
        rng_below(&d->r, 3) == 0 ? rng_below(&d->r, 6) : rng_below(&d->r, CUSTOMERS_PER_CLIENT);
    json_t *in, *out = NULL, *tags = json_array();
    oi->status = PICK(&d->r, statuses);
    if (rng_below(&d->r, 2))
        json_array_append_new(tags, json_string(PICK(&d->r, dc->tags)));
    json_t *assignee =
        strcmp(oi->status, "new") == 0
            ? json_null()
            : json_integer(d->agent_ids[oi->client][rng_below(&d->r, d->nagents[oi->client])]);
    in = json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:{s:s, s:s}, s:s}", "client_id",
                   (json_int_t)d->client_ids[oi->client], "channel", PICK(&d->r, channels),
                   "subject", dc->subjects[topic], "priority", PICK(&d->r, priorities), "queue",
                   dc->queues[topic % 3], "tags", tags, "assignee_id", assignee, "customer_id",
                   (json_int_t)d->customer_ids[oi->client][who], "message", "direction", "inbound",
                   "body", dc->openers[topic], "category", dc->categories[topic]);
    int rc = store_interaction_create(tx, in, &out);
    json_decref(in);
    if (!rc) {
        oi->id = json_integer_value(json_object_get(out, "id"));
        oi->agent = json_integer_value(json_object_get(out, "assignee_id"));
        oi->turns = strcmp(oi->status, "new") == 0 ? 0 : 1 + rng_below(&d->r, 4);
    }
    json_decref(out);
    return rc;
}

/* An interaction and its conversation, each step a few minutes apart. */
static int seed_conversation(demo *d, int client, int n, int64_t when)
{
    one_interaction oi = {.client = client, .n = n};
    int rc = at(d, when, seed_interaction, &oi);
    for (oi.turn = 0; !rc && oi.turn < oi.turns; oi.turn++) {
        when += (2 + rng_below(&d->r, 10)) * 60 * 1000;
        rc = at(d, when, seed_turn, &oi);
    }
    if (!rc && oi.turns)
        rc = at(d, when + (1 + rng_below(&d->r, 5)) * 60 * 1000, seed_status, &oi);
    return rc;
}

/* A new customer message, routed by the intent the models learned. */
static int seed_fresh(demo *d, store_tx *tx, void *arg)
{
    const int *which = arg;
    const demo_client *dc = &clients[which[0]];
    json_t *out = NULL,
           *in = json_pack("{s:I, s:s, s:I, s:{s:s, s:s}}", "client_id",
                           (json_int_t)d->client_ids[which[0]], "channel", "email", "customer_id",
                           (json_int_t)d->customer_ids[which[0]][10 + which[1]], "message",
                           "direction", "inbound", "body", dc->fresh[which[1]]);
    int rc = store_interaction_create(tx, in, &out);
    json_decref(in);
    json_decref(out);
    return rc;
}

static int seed_articles(demo *d, store_tx *tx, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof articles / sizeof *articles; i++) {
        const struct demo_article *a = &articles[i];
        json_t *tags = json_array(), *out = NULL;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", a->tags);
        for (char *t = strtok(buf, ","); t; t = strtok(NULL, ","))
            json_array_append_new(tags, json_string(t));
        json_t *in = json_pack("{s:I, s:s, s:s, s:o, s:s, s:s}", "client_id",
                               (json_int_t)d->client_ids[a->client], "title", a->title, "body",
                               a->body, "tags", tags, "audience", a->audience, "status",
                               "published");
        int rc = store_article_create(tx, in, &out);
        json_decref(in);
        json_decref(out);
        if (rc)
            return rc;
    }
    return 0;
}

static int seed(demo *d)
{
    int64_t t = DEMO_START_MS - 2 * 3600 * 1000;
    int rc = at(d, t, seed_clients, NULL);
    if (!rc)
        rc = at(d, t + 60000, seed_users, NULL);
    for (int c = 0; c < 2 && !rc; c++)
        rc = at(d, t + 120000, seed_customers, &c);
    if (!rc)
        rc = at(d, t + 180000, seed_articles, NULL);
    /* Spread interactions over the week, both clients interleaved. */
    for (int n = 0; n < INTERACTIONS_PER_CLIENT && !rc; n++)
        for (int c = 0; c < 2 && !rc; c++)
            rc = seed_conversation(d, c, n,
                                   DEMO_START_MS + (int64_t)n * 3600 * 1000 + c * 1800 * 1000 +
                                       rng_below(&d->r, 900) * 1000);
    return rc;
}

/* --- the example workflows -------------------------------------------- */

/* Brands of the clients the example workflows belong to that the demo does
 * not otherwise seed. */
static const struct {
    const char *slug, *name, *display, *tone;
} flow_clients[] = {
    {"skyline-broadband", "Skyline Broadband Ltd", "Skyline Broadband",
     "Friendly and practical; one step at a time."},
    {"riverside-clinic", "Riverside Clinic", "Riverside Clinic",
     "Calm and discreet. Verify identity before any appointment detail (HIPAA)."},
};

static int client_for_flow(store_tx *tx, const char *slug, int64_t *id)
{
    json_t *out = NULL, *in;
    int rc = store_client_by_slug(tx, slug, id);
    if (rc != CD_ENOTFOUND)
        return rc;
    for (size_t i = 0; i < sizeof flow_clients / sizeof *flow_clients; i++) {
        if (strcmp(flow_clients[i].slug, slug) != 0)
            continue;
        in = json_pack("{s:s, s:s, s:{s:s, s:s}}", "slug", slug, "name", flow_clients[i].name,
                       "brand", "display_name", flow_clients[i].display, "tone_notes",
                       flow_clients[i].tone);
        rc = store_client_create(tx, in, &out);
        json_decref(in);
        if (!rc)
            *id = json_integer_value(json_object_get(out, "id"));
        json_decref(out);
        return rc;
    }
    return CD_ENOTFOUND;
}

/* Loads one workflow file, lints it, and publishes it for its client. */
static int seed_flow(demo *d, store_tx *tx, void *arg)
{
    const char *path = arg;
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_PRESERVE_ORDER, &jerr), *wf = NULL, *ver = NULL;
    const char *slug = json_string_value(json_object_get(doc, "client"));
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    flow_diags diags;
    int64_t client = 0;
    int rc = text && slug ? 0 : CD_EINVAL;
    (void)d;
    flow_diags_init(&diags);
    if (!rc && flow_lint_text(text, strlen(text), &diags) != 0)
        rc = CD_EINVAL;
    if (!rc)
        rc = client_for_flow(tx, slug, &client);
    if (!rc)
        rc = store_workflow_create(tx, client, json_string_value(json_object_get(doc, "id")),
                                   json_string_value(json_object_get(doc, "title")) ?: "", text,
                                   &wf);
    if (!rc)
        rc = store_workflow_publish(tx, json_integer_value(json_object_get(wf, "id")), text, &ver);
    if (rc)
        fprintf(stderr, "caredesk: demo workflow %s not loaded (%s)\n", path, cd_strerror(rc));
    flow_diags_cleanup(&diags);
    json_decref(ver);
    json_decref(wf);
    cd_free(text);
    json_decref(doc);
    return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Publishes every .json file of the folder; a missing folder is skipped. */
static int seed_flows(demo *d, const char *dir, int *loaded)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, by_name), rc = 0;
    char path[4096];
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]->d_name);
        if (!rc && len > 5 && strcmp(names[i]->d_name + len - 5, ".json") == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
            rc = at(d, DEMO_START_MS - 3600 * 1000, seed_flow, path);
            *loaded += rc == 0;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int cmd_demo(int argc, char **argv)
{
    const char *db = CLI_DEFAULT_DB;
    demo d;
    store_tx *tx = NULL;
    json_t *existing = NULL;
    int rc;
    if (cli_wants_help(argc, argv)) {
        printf("usage: caredesk demo [--db TARGET] [--flows DIR] [--key-file FILE]\n"
               "Seeds the demo into an empty store: clients %s and %s, users\n"
               "(password '%s') admin@caredesk.demo, sam@caredesk.demo (supervisor),\n"
               "ana@caredesk.demo (agent, both clients), li@, omar@, quinn@ (qa), wendy@ (wfm),\n"
               "viewer@northwind.demo (client viewer), %d customers and %d interactions.\n"
               "Sensitive customer fields are sealed with FILE (default %s), created if\n"
               "missing.\n",
               clients[0].slug, clients[1].slug, DEMO_PASSWORD, 2 * CUSTOMERS_PER_CLIENT,
               2 * INTERACTIONS_PER_CLIENT, CLI_DEFAULT_KEY_FILE);
        return 0;
    }
    const char *flows = "flows", *key_file = CLI_DEFAULT_KEY_FILE;
    int nflows = 0;
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--db") == 0)
            db = argv[i + 1];
        if (strcmp(argv[i], "--flows") == 0)
            flows = argv[i + 1];
        if (strcmp(argv[i], "--key-file") == 0)
            key_file = argv[i + 1];
    }
    memset(&d, 0, sizeof d);
    d.r.s = 20261109;
    if (cli_open(db, 1, &d.st))
        return 1;
    /* The demo's key file and sentiment model, as `serve` will use them. */
    char err[512];
    vault *keys = NULL;
    sentiment_model *mood = NULL;
    cli_make_parent(key_file);
    if (vault_load(key_file, &keys, err, sizeof err) == CD_ENOTFOUND &&
        vault_create(key_file, err, sizeof err) == 0)
        vault_load(key_file, &keys, err, sizeof err);
    if (keys) {
        store_set_vault(d.st, keys, NULL);
        d.sealed = 1;
    } else {
        fprintf(stderr, "demo: %s; customers get no sensitive fields\n", err);
    }
    if (sentiment_load_dir(NULL, 0, &mood, err, sizeof err) == 0)
        store_set_sentiment(d.st, mood);
    else
        fprintf(stderr, "demo: %s; messages get no sentiment\n", err);
    rc = cli_begin(d.st, 0, &tx);
    if (!rc)
        rc = store_client_list(tx, &existing);
    store_rollback(tx);
    if (!rc && json_array_size(json_object_get(existing, "items")) > 0) {
        printf("demo: the store already has clients; nothing seeded\n");
        json_decref(existing);
        store_close(d.st);
        vault_free(keys);
        sentiment_free(mood);
        return 0;
    }
    json_decref(existing);
    /* One hash for the shared demo password keeps seeding fast. */
    if (!rc)
        rc = auth_password_hash(DEMO_PASSWORD, d.password_hash);
    /* The week's conversations happened: their replies are not emailed. */
    store_set_importing(d.st, 1);
    if (!rc)
        rc = seed(&d);
    store_set_importing(d.st, 0);
    if (!rc)
        rc = seed_flows(&d, flows, &nflows);
    /* The intent models learn the week's resolved interactions, as `serve`
     * does at start; then a few new messages arrive and are routed by them. */
    intents *models = NULL;
    char ierr[200];
    if (!rc && intents_start(d.st, &models, ierr, sizeof ierr) == 0) {
        for (int c = 0; c < 2 && !rc; c++)
            for (int k = 0; k < 3 && !rc; k++) {
                int which[2] = {c, k};
                rc = at(&d, DEMO_START_MS + (int64_t)INTERACTIONS_PER_CLIENT * 3600 * 1000 +
                                (int64_t)(c * 3 + k + 1) * 600 * 1000,
                        seed_fresh, which);
            }
        intents_stop(models);
    }
    store_close(d.st);
    vault_free(keys);
    sentiment_free(mood);
    if (rc) {
        fprintf(stderr, "caredesk: demo seeding failed: %s\n", cd_strerror(rc));
        return 1;
    }
    printf("demo seeded: 2 clients, %zu users (password '%s'), %d customers, %d interactions "
           "(6 of them new, routed by learned intent), %zu articles, %d workflow(s) from %s\n",
           sizeof users / sizeof *users, DEMO_PASSWORD, 2 * CUSTOMERS_PER_CLIENT,
           2 * INTERACTIONS_PER_CLIENT + 6, sizeof articles / sizeof *articles, nflows, flows);
    return 0;
}

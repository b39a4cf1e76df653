#!/usr/bin/env python3
"""An agent's capacity per channel, set through the API, governs routing.

    harness.py --bin BUILD/caredesk --store sqlite -- python3 tests/api/test_capacity.py

An agent whose chats weigh 30 units (of 60) holds two chats at once instead
of three; work in hand keeps the units it was offered at; a weight over 60
switches a channel off; clearing the weights restores the defaults. Only administrators change capacity. The
supervisor view counts "today" from midnight in the client's time zone.

Ends with `N passed, N failed`.
"""
import os
import subprocess
import time

from apitest import API, check, finish, must, until, call

ADMIN = os.environ["CAREDESK_ADMIN_TOKEN"]
BIN = os.environ["CAREDESK_BIN"]
DB = os.environ["CAREDESK_DB"]









def offers(token):
    return call(token, "GET", API + "/agents/me/offers").get("items", [])


def accept_all(token, want, seconds=8.0):
    """Accepts offers as they come until `want` were accepted or time is up."""
    got = []
    deadline = time.time() + seconds
    while len(got) < want and time.time() < deadline:
        for o in offers(token):
            if call(token, "POST", API + "/offers/%d/accept" % o["id"]).status == 200:
                got.append(o["interaction_id"])
        time.sleep(0.05)
    return got


def main():
    client = must(call(ADMIN, "POST", API + "/clients", {
        "slug": "cap-a", "name": "Capacity A", "timezone": "Pacific/Auckland"}), 201, "client")["id"]
    agent = must(call(ADMIN, "POST", API + "/users", {
        "email": "cap@agent.test", "name": "Cap", "role": "agent", "password": "capacity-pass-1",
        "clients": [client]}), 201, "agent")
    r = subprocess.run([BIN, "token", "create", "--db", DB, "--email", "cap@agent.test"],
                       capture_output=True, text=True, timeout=60)
    tok = r.stdout.strip().splitlines()[-1]

    r = call(tok, "PATCH", API + "/users/%d" % agent["id"], {"channel_weights": {"chat": 10}})
    check("an agent cannot change its own capacity", r.status == 403, dict(r))
    r = call(ADMIN, "PATCH", API + "/users/%d" % agent["id"], {"channel_weights": {"chat": 0}})
    check("a weight must be 1..61", r.status == 400, dict(r))
    r = must(call(ADMIN, "PATCH", API + "/users/%d" % agent["id"],
                  {"channel_weights": {"chat": 30}}), 200, "chats weigh 30 units")
    check("the user shows its channel weights", r.get("channel_weights") == {"chat": 30}, dict(r))

    must(call(tok, "PUT", API + "/agents/me/state", {"state": "available"}), 200, "available")
    ids = [must(call(ADMIN, "POST", API + "/interactions", {"client_id": client,
                                                            "channel": "chat"}), 201,
                "chat %d" % i)["id"] for i in range(3)]
    got = accept_all(tok, 2)
    check("two chats fit in 60 units at 30 each", sorted(got) == sorted(ids[:2]), got)
    time.sleep(1.0)
    check("the third chat is not offered while two are held", offers(tok) == [], offers(tok))

    # Work in hand keeps the units it was offered at; finishing one chat
    # frees 30 units, enough for the third at the new weight of 20.
    must(call(ADMIN, "PATCH", API + "/users/%d" % agent["id"], {"channel_weights": {"chat": 20}}),
         200, "chats weigh 20 units from now on")
    time.sleep(0.5)
    check("held chats keep their units: still no third offer", offers(tok) == [], offers(tok))
    must(call(tok, "POST", API + "/interactions/%d/finish" % ids[0], {"wrapup_s": 0}), 200,
         "finish the first chat")
    got = accept_all(tok, 1)
    check("with room again, the waiting chat is offered", got == [ids[2]], got)

    must(call(ADMIN, "PATCH", API + "/users/%d" % agent["id"],
              {"channel_weights": {"chat": 20, "email": 61}}), 200, "email switched off")
    for i in ids[1:]:
        must(call(tok, "POST", API + "/interactions/%d/finish" % i, {"wrapup_s": 0}), 200,
             "finish chat %d" % i)
    em = must(call(ADMIN, "POST", API + "/interactions", {"client_id": client,
                                                          "channel": "email"}), 201, "an email")
    time.sleep(1.0)
    check("an idle agent with email over 60 units gets no email", offers(tok) == [], offers(tok))
    must(call(ADMIN, "PATCH", API + "/users/%d" % agent["id"], {"channel_weights": {}}), 200,
         "back to the defaults")
    got = accept_all(tok, 1)
    check("with the defaults the email is offered", got == [em["id"]], got)

    # "Today" is the client's day: midnight in Pacific/Auckland.
    view = call(ADMIN, "GET", API + "/supervisor/queues?client_id=%d" % client)
    start = view.get("day_start")
    check("the supervisor view says where its day starts", isinstance(start, int), dict(view))
    if isinstance(start, int):
        import datetime
        try:
            from zoneinfo import ZoneInfo
            local = datetime.datetime.fromtimestamp(start / 1000, ZoneInfo("Pacific/Auckland"))
            check("the day starts at midnight in the client's time zone",
                  (local.hour, local.minute, local.second) == (0, 0, 0)
                  and 0 <= view["at"] - start < 86400 * 1000 + 3600 * 1000, local)
        except ImportError:
            check("python has zoneinfo", False)
    answered = sum(q.get("answered_today", 0) for q in view.get("queues", []))
    check("the offers accepted since the client's midnight are counted", answered == 4, view)


if __name__ == "__main__":
    finish(main)

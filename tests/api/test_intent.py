#!/usr/bin/env python3
"""Routing by learned intent, over the API.

    harness.py --bin BUILD/caredesk --store sqlite|pg -- python3 tests/api/test_intent.py

A client's resolved interactions teach its model; a new interaction with
no category gets one when the model is sure (and the queue its category
maps to), or goes to the client's triage queue when it is not; every
prediction is recorded and scored once the interaction is resolved; one
client's model never predicts for another. On PostgreSQL a second server
learns the same examples from the store.

Ends with `N passed, N failed`.
"""
import os
import subprocess

from apitest import API, check, finish, must, until
from apitest import admin as call

BIN = os.environ["CAREDESK_BIN"]
DB = os.environ["CAREDESK_DB"]
SRC = os.environ["CAREDESK_SRC"]
STORE = os.environ.get("CAREDESK_STORE", "sqlite")











TEACH = {
    "billing": ["My bill is much higher than last month", "I was charged twice on my invoice",
                "Why did my monthly payment go up", "The amount on my statement is wrong",
                "Please explain the extra charge on my bill", "I think I was overcharged",
                "My direct debit took the wrong amount", "Can you check my latest invoice",
                "The bill shows a fee I do not understand", "Refund the double payment please"],
    "outage": ["We have no power since this morning", "The electricity is out on my street",
               "Power cut in the whole building", "My lights went off and nothing works",
               "Is there an outage in my area", "No electricity for three hours now",
               "The power keeps going off and on", "Our supply was cut without warning",
               "Blackout in the neighbourhood, when will it be fixed",
               "Electricity outage again tonight"],
    "moving": ["I am moving house next month", "How do I close my account when I move",
               "We are moving to a new address", "I need a final meter reading for my move",
               "Moving out on Friday, what do I do", "Transfer my account to my new home",
               "I sold my house and am relocating", "New tenant is moving in after me",
               "Change of address because I moved", "Closing the account at my old flat"],
}


def main():
    A = must(call("POST", API + "/clients", {
        "slug": "intent-a", "name": "Intent A",
        "intent": {"threshold": 0.5, "triage_queue": "triage",
                   "routes": {"billing": "billing", "outage": "faults"}}}), 201, "client A")
    check("the client shows its intent settings", A.get("intent") == {
        "threshold": 0.5, "triage_queue": "triage",
        "routes": {"billing": "billing", "outage": "faults"}}, A.get("intent"))
    r = call("PATCH", API + "/clients/%d" % A["id"], {"intent": {"routes": {"x": 5}}})
    check("routes must name queues", r.status in (400, 422), dict(r))
    r = call("PATCH", API + "/clients/%d" % A["id"], {"intent": {"threshold": 1.5}})
    check("the threshold lies in [0, 1]", r.status == 400, dict(r))
    A = A["id"]
    B = must(call("POST", API + "/clients", {"slug": "intent-b", "name": "Intent B"}), 201,
             "client B")["id"]

    before = call("GET", API + "/clients/%d/intent" % A)
    check("no model before any example", before.get("model", {}).get("predicting") is False
          and before.get("predictions", {}).get("predictions") == 0, dict(before))
    plain = must(call("POST", API + "/interactions", {
        "client_id": A, "channel": "email", "subject": "My bill is wrong",
        "message": {"direction": "inbound", "body": "charged twice"}}), 201, "before learning")
    check("without a model nothing is predicted", plain.get("category") is None
          and plain.get("queue") == "default", plain)

    # Teach: resolved interactions with their final category.
    for cat, texts in TEACH.items():
        for t in texts:
            it = must(call("POST", API + "/interactions", {
                "client_id": A, "channel": "email", "subject": t.split(" ", 3)[-1],
                "message": {"direction": "inbound", "body": t}}), 201, "example")
            must(call("PATCH", API + "/interactions/%d" % it["id"],
                      {"status": "resolved", "category": cat}), 200, "resolve as " + cat)
    # The models follow the store's log: wait until all 30 are learned.
    info = until(lambda: (lambda i: i if i.get("model", {}).get("examples") == 30 else None)(
        call("GET", API + "/clients/%d/intent" % A)))
    check("the model learned the resolved interactions", info and
          sorted(info["model"]["categories"]) == ["billing", "moving", "outage"]
          and info["model"]["examples"] == 30, info and info.get("model"))

    base = call("GET", API + "/clients/%d/intent" % A).get("predictions", {})
    it = must(call("POST", API + "/interactions", {
        "client_id": A, "channel": "chat", "subject": "Power is out",
        "message": {"direction": "inbound", "body": "We have had no electricity since 6am"}}),
        201, "a new outage")
    check("a confident prediction sets the category and the mapped queue",
          it.get("category") == "outage" and it.get("queue") == "faults", it)
    ev = [e for e in call("GET", API + "/interactions/%d/events" % it["id"]).get("items", [])
          if e.get("kind") == "intent"]
    check("the prediction is in the event log with its confidence",
          len(ev) == 1 and ev[0]["after_json"]["category"] == "outage"
          and 0.5 <= ev[0]["after_json"]["confidence"] <= 1 and ev[0]["after_json"]["applied"],
          ev)
    mv = must(call("POST", API + "/interactions", {
        "client_id": A, "channel": "email", "subject": "Moving out",
        "message": {"direction": "inbound", "body": "I am moving house and need to close my "
                                                    "account"}}), 201, "a new move")
    check("a category without a route keeps the default queue",
          mv.get("category") == "moving" and mv.get("queue") == "default", mv)
    own = must(call("POST", API + "/interactions", {
        "client_id": A, "channel": "email", "queue": "vip", "category": "billing",
        "message": {"direction": "inbound", "body": "No power at all since noon"}}), 201,
        "an interaction with its own category and queue")
    check("a caller's own category and queue are kept", own.get("category") == "billing"
          and own.get("queue") == "vip", own)

    must(call("PATCH", API + "/clients/%d" % A, {"intent": {"threshold": 1.0}}), 200,
         "nothing is sure enough now")
    tri = must(call("POST", API + "/interactions", {
        "client_id": A, "channel": "email", "subject": "Question",
        "message": {"direction": "inbound", "body": "Hello, I have a question"}}), 201,
        "an unsure one")
    check("below the threshold: no category, the triage queue",
          tri.get("category") is None and tri.get("queue") == "triage", tri)

    # Scoring: the outage was right, the move is resolved as billing (wrong).
    must(call("PATCH", API + "/interactions/%d" % it["id"], {"status": "resolved"}), 200,
         "resolve the outage as predicted")
    must(call("PATCH", API + "/interactions/%d" % mv["id"],
              {"status": "resolved", "category": "billing"}), 200, "resolve the move as billing")
    st = call("GET", API + "/clients/%d/intent" % A).get("predictions", {})
    d = {k: st.get(k, 0) - base.get(k, 0) for k in ("predictions", "applied", "resolved",
                                                     "correct")}
    check("every prediction is recorded and scored once resolved",
          d == {"predictions": 4, "applied": 2, "resolved": 2, "correct": 1}, (d, st))
    check("accuracy is correct / resolved", st.get("resolved") and abs(
        st.get("accuracy", 0) - st["correct"] / st["resolved"]) < 1e-9, st)

    # Another client has no model, whatever A learned.
    ib = must(call("POST", API + "/interactions", {
        "client_id": B, "channel": "chat",
        "message": {"direction": "inbound", "body": "We have had no electricity since 6am"}}),
        201, "the same text for client B")
    check("one client's model never predicts for another", ib.get("category") is None
          and ib.get("queue") == "default", ib)
    check("client B's stats are its own",
          call("GET", API + "/clients/%d/intent" % B).get("predictions", {}).get(
              "predictions") == 0)

    if STORE != "pg":
        return
    srv = subprocess.Popen([BIN, "serve", "--db", DB, "--listen", "127.0.0.1:0", "--quiet",
                            "--web", os.path.join(SRC, "web")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        url2 = srv.stdout.readline().strip()[len("listening on "):]
        info2 = call("GET", API + "/clients/%d/intent" % A, url=url2).get("model", {})
        check("a second server learned the same examples from the store",
              info2.get("examples") == info["model"]["examples"] + 2, info2)
    finally:
        srv.terminate()
        srv.wait(timeout=15)


if __name__ == "__main__":
    finish(main)

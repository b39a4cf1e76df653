#!/usr/bin/env python3
"""Guided workflows calling other workflows as sub-flows, over the API.

    harness.py --bin BUILD/caredesk --store sqlite -- python3 tests/api/test_subflows.py

A `call` node starts the called workflow (the client's latest published
version) as a session of its own on the same interaction; the agent answers
that session; when it ends, its outcome answers the call and the caller goes
on. Publishing checks that call targets exist; going back past a call
abandons the sub-flow; a call cycle stops at the nesting limit with a clear
error; another client's workflow of the same key is never called. A
follow_up action schedules a follow-up on the interaction.

Ends with `N passed, N failed`.
"""

from apitest import API, check, finish, must, until
from apitest import admin as call










def workflow(client, doc, publish=True):
    wf = must(call("POST", API + "/workflows", {"client_id": client, "document": doc}), 201,
              "workflow " + doc["id"])
    if publish:
        must(call("POST", API + "/workflows/%d/publish" % wf["id"]), 201, "publish " + doc["id"])
    return wf["id"]


VERIFY = {"id": "verify-id", "version": 1, "start": "which", "nodes": [
    {"id": "which", "kind": "ask", "type": "choice", "prompt": "Which document?",
     "options": ["passport", "licence"], "next": "seen"},
    {"id": "seen", "kind": "check", "required": True, "text": "Document checked", "next": "ok"},
    {"id": "ok", "kind": "end", "outcome": "resolved", "code": "ID-OK"}]}

PARENT = {"id": "refund", "version": 1, "start": "hello", "nodes": [
    {"id": "hello", "kind": "say", "text": "Hello", "next": "verify"},
    {"id": "verify", "kind": "call", "flow": "verify-id", "next": "route"},
    {"id": "route", "kind": "decide",
     "rules": [{"when": "answers.verify == 'resolved'", "next": "tag"}], "default": "escalate"},
    {"id": "tag", "kind": "act", "actions": [{"type": "tag", "tag": "verified"}], "next": "done"},
    {"id": "done", "kind": "end", "outcome": "resolved", "code": "REFUND"},
    {"id": "escalate", "kind": "end", "outcome": "escalated", "code": "NO-ID"}]}


def main():
    A = must(call("POST", API + "/clients", {"slug": "sub-a", "name": "Sub A"}), 201, "client A")["id"]
    B = must(call("POST", API + "/clients", {"slug": "sub-b", "name": "Sub B"}), 201, "client B")["id"]
    it = must(call("POST", API + "/interactions", {"client_id": A, "channel": "voice"}), 201,
              "interaction")["id"]

    # Publishing a caller before its sub-flow exists is refused.
    parent = workflow(A, PARENT, publish=False)
    r = call("POST", API + "/workflows/%d/publish" % parent)
    check("a call to a workflow that is not published is refused at publish",
          r.status == 422 and "verify-id" in r.get("error", {}).get("message", ""), dict(r))
    # Client B's workflow of the same key does not count for client A.
    workflow(B, VERIFY)
    r = call("POST", API + "/workflows/%d/publish" % parent)
    check("another client's workflow of that key does not count", r.status == 422, dict(r))
    workflow(A, VERIFY)
    must(call("POST", API + "/workflows/%d/publish" % parent), 201, "publish the caller")

    s = must(call("POST", API + "/interactions/%d/sessions" % it, {"workflow_id": parent}), 201,
             "start the caller")
    sub = s.get("subflow") or {}
    check("the caller waits at its call node", s.get("current", {}).get("id") == "verify"
          and not s.get("ended"), s.get("current"))
    check("the sub-flow started with the caller and waits at its first question",
          sub.get("current", {}).get("id") == "which" and sub.get("parent_session_id") == s["id"],
          sub)
    check("the waiting session is the sub-flow", s.get("waiting_session_id") == sub.get("id"), s)
    r = call("POST", API + "/sessions/%d/answer" % s["id"], {"answer": "resolved"})
    check("the call cannot be answered by hand while its sub-flow runs",
          r.status == 409 and str(sub.get("id")) in r.get("error", {}).get("message", ""), dict(r))
    r = must(call("POST", API + "/sessions/%d/answer" % sub["id"], {"answer": "passport"}), 200,
             "answer the sub-flow")
    check("the sub-flow moves on", r.get("current", {}).get("id") == "seen", r.get("current"))
    r = must(call("POST", API + "/sessions/%d/back" % sub["id"]), 200, "back in the sub-flow")
    check("back works inside the sub-flow", r.get("current", {}).get("id") == "which", r)
    must(call("POST", API + "/sessions/%d/answer" % sub["id"], {"answer": "licence"}), 200, "again")
    r = must(call("POST", API + "/sessions/%d/answer" % sub["id"], {"answer": True}), 200,
             "the required check, done")
    check("the sub-flow's end hands back to the caller, which runs to its end",
          r.get("id") == s["id"] and r.get("ended") is True and r.get("outcome") == "resolved"
          and r.get("waiting_session_id") is None, r)
    child = call("GET", API + "/sessions/%d" % sub["id"])
    check("the sub-flow session is completed with its own outcome",
          child.get("status") == "completed" and child.get("outcome") == "resolved", child)
    parent_view = call("GET", API + "/sessions/%d" % s["id"])
    hist = [h for h in parent_view.get("history", []) if h.get("node") == "verify"]
    check("the caller's history records the call answered with the outcome",
          len(hist) == 1 and hist[0].get("answer") == "resolved", parent_view.get("history"))
    tags = call("GET", API + "/interactions/%d" % it).get("tags", [])
    check("the caller's actions after the call were applied", "verified" in tags, tags)

    # Going back past the call starts the sub-flow again; going back before
    # it abandons the running one.
    r = must(call("POST", API + "/sessions/%d/back" % s["id"]), 200, "back in the caller")
    again = r.get("subflow") or {}
    check("back to the call runs the sub-flow anew", r.get("current", {}).get("id") == "verify"
          and again.get("id") not in (None, sub["id"])
          and again.get("current", {}).get("id") == "which", r)
    must(call("POST", API + "/sessions/%d/answer" % again["id"], {"answer": "passport"}), 200,
         "answer the new sub-flow")
    r = call("POST", API + "/sessions/%d/back" % s["id"])
    check("back in the caller is refused at its first step (the call is its first question)",
          r.status == 409, dict(r))

    # Sub-flows that end at once answer the call at once.
    quick = {"id": "quick", "version": 1, "start": "q", "nodes": [
        {"id": "q", "kind": "end", "outcome": "follow_up", "code": "LATER"}]}
    workflow(A, quick)
    outer = {"id": "outer", "version": 1, "start": "c", "nodes": [
        {"id": "c", "kind": "call", "flow": "quick", "next": "e"},
        {"id": "e", "kind": "end", "outcome": "resolved", "code": "X"}]}
    oid = workflow(A, outer)
    it2 = must(call("POST", API + "/interactions", {"client_id": A, "channel": "chat"}), 201,
               "another interaction")["id"]
    r = must(call("POST", API + "/interactions/%d/sessions" % it2, {"workflow_id": oid}), 201,
             "start a caller of an instant sub-flow")
    check("an instant sub-flow answers the call and the caller ends",
          r.get("ended") is True and r.get("subflow") is None, r)

    # A call cycle: ping calls pong calls ping.
    ping1 = {"id": "ping", "version": 1, "start": "e", "nodes": [
        {"id": "e", "kind": "end", "outcome": "resolved", "code": "P"}]}
    pid = workflow(A, ping1)
    pong = {"id": "pong", "version": 1, "start": "c", "nodes": [
        {"id": "c", "kind": "call", "flow": "ping", "next": "e"},
        {"id": "e", "kind": "end", "outcome": "resolved", "code": "Q"}]}
    workflow(A, pong)
    ping2 = {"id": "ping", "version": 2, "start": "c", "nodes": [
        {"id": "c", "kind": "call", "flow": "pong", "next": "e"},
        {"id": "e", "kind": "end", "outcome": "resolved", "code": "P"}]}
    must(call("PUT", API + "/workflows/%d/draft" % pid, {"document": ping2}), 200, "ping v2 draft")
    must(call("POST", API + "/workflows/%d/publish" % pid), 201, "publish ping v2")
    it3 = must(call("POST", API + "/interactions", {"client_id": A, "channel": "chat"}), 201,
               "a third interaction")["id"]
    r = call("POST", API + "/interactions/%d/sessions" % it3, {"workflow_id": pid})
    check("a call cycle stops at the nesting limit with a clear error",
          r.status == 409 and "deeper" in r.get("error", {}).get("message", ""), dict(r))
    # A follow_up action schedules a follow-up on the interaction.
    fu = {"id": "callback", "version": 1, "start": "a",
          "variables": {"customer.first_name": "string"}, "nodes": [
        {"id": "a", "kind": "act", "actions": [
            {"type": "follow_up", "in_hours": 48, "text": "Call {{customer.first_name}} back"}],
         "next": "e"},
        {"id": "e", "kind": "end", "outcome": "follow_up", "code": "CB"}]}
    fid = workflow(A, fu)
    it4 = must(call("POST", API + "/interactions", {
        "client_id": A, "channel": "voice", "customer": {
            "name": "Robin Page", "identities": [{"kind": "phone", "value": "+15550001111"}]}}),
        201, "an interaction for a follow-up")
    r = must(call("POST", API + "/interactions/%d/sessions" % it4["id"], {"workflow_id": fid}),
             201, "run a workflow that schedules a follow-up")
    fl = call("GET", API + "/interactions/%d/follow_ups" % it4["id"]).get("items", [])
    check("the workflow's follow-up is scheduled, due in 48 hours, its note rendered",
          len(fl) == 1 and fl[0]["note"] == "Call Robin back" and fl[0]["status"] == "scheduled"
          and abs(fl[0]["due_at"] - fl[0]["created_at"] - 48 * 3600 * 1000) < 1000, fl)
    r = must(call("POST", API + "/interactions/%d/follow_ups" % it4["id"],
                  {"in_hours": 2, "note": "check the card 4111 1111 1111 1111 charge"}), 201,
             "schedule one by hand")
    check("a follow-up note is redacted like any text", "**** **** **** 1111" in r.get("note", ""),
          dict(r))
    for body, why, status in (
            ({"in_hours": 1, "due_at": 99999999999999, "note": "x"}, "both in_hours and due_at",
             422),
            ({"note": "x"}, "neither in_hours nor due_at", 422),
            ({"in_hours": 3}, "no note", 400),
            ({"due_at": 1000, "note": "x"}, "a due time in the past", 422)):
        r = call("POST", API + "/interactions/%d/follow_ups" % it4["id"], body)
        check("a follow-up with %s is refused" % why, r.status == status, dict(r))
    evs = call("GET", API + "/interactions/%d/events" % it4["id"]).get("items", [])
    check("each follow-up is in the event log",
          sum(1 for e in evs if e.get("kind") == "follow_up_scheduled") == 2, evs)

    sessions = call("GET", API + "/interactions/%d" % it3)
    check("and leaves nothing behind (the interaction is unchanged)",
          sessions.get("version") == 1, sessions)


if __name__ == "__main__":
    finish(main)

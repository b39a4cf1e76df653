#!/usr/bin/env python3
"""SLA policies, clocks, warnings, breaches and reports over the API.

    harness.py --bin BUILD/caredesk --store sqlite|pg -- python3 tests/api/test_sla.py

The first policy whose conditions match applies; its clocks start with the
interaction; a reply fulfils the first response; pending pauses the clocks
and the customer's reply resumes them; a change of priority re-targets them
keeping the time elapsed; the server fires each warning and breach once, on
time, as events (and runs sla_breach rules); the report counts met and
breached by policy, priority, channel and day. Calendars are validated.
Targets here are fractions of a minute so the test runs in seconds.

Ends with `N passed, N failed`.
"""
import time

from apitest import API, check, finish, must, until
from apitest import admin as call












def clocks(iid):
    return {c["target"]: c for c in call("GET", API + "/interactions/%d/sla" % iid).get(
        "clocks", [])}


def events(iid, kind):
    return [e for e in call("GET", API + "/interactions/%d/events?limit=200" % iid).get(
        "items", []) if e.get("kind") == kind]


def main():
    # Calendars are checked when set.
    r = call("POST", API + "/clients", {"slug": "sla-x", "name": "X", "calendar": {
        "timezone": "Europe/London", "hours": {"mon": [["9:00", "17:00"]]}}})
    check("a malformed calendar is refused, naming the field", r.status == 422
          and "hours.mon" in r.get("error", {}).get("message", ""), dict(r))
    r = call("POST", API + "/clients", {"slug": "sla-y", "name": "Y", "calendar": {
        "timezone": "Mars/Olympus", "hours": "24/7"}})
    check("an unknown time zone is refused", r.status == 422, dict(r))
    cal = {"timezone": "Europe/London", "hours": {d: [["09:00", "17:30"]] for d in
                                                  ("mon", "tue", "wed", "thu", "fri")},
           "holidays": ["2026-12-25"]}
    B = must(call("POST", API + "/clients", {"slug": "sla-b", "name": "B", "calendar": cal}),
             201, "a client with business hours")
    check("the calendar is kept", B.get("calendar") == cal, B.get("calendar"))

    A = must(call("POST", API + "/clients", {"slug": "sla-a", "name": "A"}), 201, "client A")["id"]
    r = call("POST", API + "/sla/policies", {"client_id": A, "name": "bad",
                                             "targets": {"first_reply": {"minutes": 5}}})
    check("an unknown target is refused", r.status == 422, dict(r))
    r = call("POST", API + "/sla/policies", {"client_id": A, "name": "bad",
                                             "targets": {"resolution": {"minutes": -1}}})
    check("a negative target is refused", r.status == 422, dict(r))
    r = call("POST", API + "/sla/policies", {"client_id": A, "name": "bad",
                                             "conditions": {"colour": ["red"]},
                                             "targets": {"resolution": {"minutes": 1}}})
    check("an unknown condition is refused", r.status == 422, dict(r))

    urgent = must(call("POST", API + "/sla/policies", {
        "client_id": A, "name": "Urgent", "position": 1, "conditions": {"priority": ["urgent"]},
        "warn_share": 0.5,
        "targets": {"first_response": {"minutes": 0.05, "business": False},
                    "resolution": {"minutes": 0.2, "business": False}}}), 201, "urgent policy")
    normal = must(call("POST", API + "/sla/policies", {
        "client_id": A, "name": "Normal", "position": 2,
        "targets": {"first_response": {"minutes": 60, "business": False},
                    "next_response": {"minutes": 30, "business": False},
                    "resolution": {"minutes": 600, "business": False}}}), 201, "normal policy")
    must(call("POST", API + "/rules", {
        "client_id": A, "name": "escalate breaches", "event": "sla_breach",
        "condition": "details.target == 'first_response'",
        "actions": [{"type": "add_tag", "tag": "sla-breached"}]}), 201, "a breach rule")

    # 1. Normal policy: reply in time.
    it = must(call("POST", API + "/interactions", {"client_id": A, "channel": "email",
                                                   "message": {"direction": "inbound",
                                                               "body": "hello"}}), 201,
              "a normal interaction")["id"]
    ap = events(it, "sla_applied")
    check("the first matching policy applies", len(ap) == 1 and
          ap[0]["after_json"]["policy_id"] == normal["id"], ap)
    c = clocks(it)
    check("first response and resolution clocks run with due times",
          set(c) == {"first_response", "resolution"} and c["first_response"]["state"] ==
          "running" and c["first_response"]["due_at"] - c["first_response"]["started_at"] ==
          3600000 and 0 < c["first_response"]["remaining_ms"] <= 3600000, c)
    must(call("POST", API + "/interactions/%d/messages" % it, {"direction": "outbound",
                                                               "body": "on it"}), 201, "reply")
    c = clocks(it)
    check("a reply fulfils the first response", c["first_response"]["state"] == "fulfilled"
          and c["resolution"]["state"] == "running", c)
    ful = events(it, "sla_fulfilled")
    check("fulfilment is an event, in time", len(ful) == 1 and ful[0]["after_json"]["in_time"],
          ful)
    must(call("POST", API + "/interactions/%d/messages" % it, {"direction": "inbound",
                                                               "body": "thanks, one more"}),
         201, "customer writes again")
    nr = clocks(it).get("next_response", {})
    check("a customer message after a reply starts next_response",
          nr.get("state") == "running" and nr.get("target_ms") == 1800000, clocks(it))

    # 2. Pending pauses; the customer's answer resumes.
    must(call("PATCH", API + "/interactions/%d" % it, {"status": "pending"}), 200, "pending")
    c1 = clocks(it)["resolution"]
    time.sleep(1.0)
    c2 = clocks(it)["resolution"]
    check("pending pauses: no time passes", c1["state"] == "paused" and
          c1["elapsed_ms"] == c2["elapsed_ms"] and c2["due_at"] is None, (c1, c2))
    must(call("PATCH", API + "/interactions/%d" % it, {"status": "open"}), 200, "open again")
    c3 = clocks(it)["resolution"]
    check("resuming keeps the elapsed time and pushes the due time out",
          c3["state"] == "running" and c3["due_at"] >= c1["started_at"] + 600 * 60000 + 900, c3)

    must(call("PATCH", API + "/interactions/%d" % it, {"status": "pending"}), 200,
         "pending again")
    must(call("POST", API + "/interactions/%d/messages" % it, {"direction": "inbound",
                                                               "body": "here is the info"}),
         201, "the customer answers")
    cur = call("GET", API + "/interactions/%d" % it)
    check("a customer's answer reopens a pending interaction and its clocks run again",
          cur.get("status") == "open" and clocks(it)["resolution"]["state"] == "running", cur)

    # 3. Priority change re-targets, keeping elapsed time.
    must(call("PATCH", API + "/interactions/%d" % it, {"priority": "urgent"}), 200, "urgent now")
    c4 = clocks(it)
    check("a priority change moves the clocks to the urgent policy's targets",
          c4["resolution"]["policy_id"] == urgent["id"] and c4["resolution"]["target_ms"] ==
          12000 and c4["resolution"]["elapsed_ms"] >= c3["elapsed_ms"], c4)

    # 4. Warning and breach, fired by the server, once.
    u = must(call("POST", API + "/interactions", {"client_id": A, "channel": "chat",
                                                  "priority": "urgent"}), 201,
             "an urgent interaction")["id"]
    w = until(lambda: events(u, "sla_warning"), 8)
    check("the warning fires at half the first-response target",
          w and any(e["after_json"]["target"] == "first_response" for e in w), w)
    b = until(lambda: [e for e in events(u, "sla_breached")
                       if e["after_json"]["target"] == "first_response"], 8)
    check("the breach fires when the target passes", bool(b), b)
    time.sleep(0.8)
    check("each fires once", len([e for e in events(u, "sla_breached")
                                  if e["after_json"]["target"] == "first_response"]) == 1
          and len([e for e in events(u, "sla_warning")
                   if e["after_json"]["target"] == "first_response"]) == 1, events(u, "sla_warning"))
    tags = call("GET", API + "/interactions/%d" % u).get("tags", [])
    check("the breach ran the sla_breach rule", "sla-breached" in tags, tags)
    check("a breached clock says so", clocks(u)["first_response"]["state"] == "breached")
    must(call("POST", API + "/interactions/%d/messages" % u, {"direction": "outbound",
                                                              "body": "sorry for the wait"}),
         201, "late reply")
    check("a late reply leaves it breached, with its reply time",
          clocks(u)["first_response"]["state"] == "breached"
          and clocks(u)["first_response"]["fulfilled_at"], clocks(u))
    must(call("PATCH", API + "/interactions/%d" % u, {"status": "resolved"}), 200, "resolve")
    check("resolving fulfils the resolution clock", clocks(u)["resolution"]["state"] in
          ("fulfilled", "breached"), clocks(u))

    # 5. Escalation tiers, judged against the policy.
    esc = must(call("POST", API + "/sla/policies", {
        "client_id": A, "name": "Escalating", "position": 0, "conditions": {"channel": ["social"]},
        "targets": {"resolution": {"minutes": 600, "business": False}},
        "escalation": [{"tier": "team_lead", "minutes": 0.01, "business": False},
                       {"tier": "supervisor", "minutes": 60, "business": False}]}), 201,
        "a policy with escalation tiers")
    r = call("POST", API + "/sla/policies", {
        "client_id": A, "name": "bad", "targets": {"resolution": {"minutes": 5}},
        "escalation": [{"tier": "supervisor", "minutes": 5}, {"tier": "team_lead", "minutes": 9}]})
    check("escalation tiers must go up in order", r.status == 422, dict(r))
    s1 = must(call("POST", API + "/interactions", {"client_id": A, "channel": "social"}), 201,
              "a social interaction")["id"]
    must(call("PATCH", API + "/interactions/%d" % s1, {"escalation_tier": "supervisor"}), 200,
         "straight to a supervisor")
    time.sleep(1.2)
    must(call("PATCH", API + "/interactions/%d" % s1, {"escalation_tier": "team_lead"}), 200,
         "then a team lead")
    must(call("PATCH", API + "/interactions/%d" % s1, {"escalation_tier": "client_contact"}), 200,
         "then the client's contact")
    ev = [e["after_json"] for e in reversed(events(s1, "escalated"))]
    check("each escalation is recorded early, late or unscheduled against the policy",
          [(e["to"], e["timing"]) for e in ev] == [("supervisor", "early"), ("team_lead", "late"),
                                                    ("client_contact", "unscheduled")]
          and ev[0]["policy_id"] == esc["id"] and isinstance(ev[0]["due_at"], int), ev)
    r = call("PATCH", API + "/interactions/%d" % s1, {"escalation_tier": "ceo"})
    check("an unknown tier is refused", r.status == 400, dict(r))

    # A policy's new targets reach the clocks it runs, keeping elapsed time.
    n2 = must(call("POST", API + "/interactions", {"client_id": A, "channel": "web"}), 201,
              "another normal interaction")["id"]
    before = clocks(n2)["resolution"]
    must(call("PATCH", API + "/sla/policies/%d" % normal["id"], {"targets": {
        "first_response": {"minutes": 60, "business": False},
        "resolution": {"minutes": 700, "business": False}}}), 200, "the policy changes")
    after_ = clocks(n2)
    check("open clocks take the policy's new targets, keeping elapsed time",
          after_["resolution"]["target_ms"] == 700 * 60000
          and after_["resolution"]["policy_version"] == 2
          and after_["resolution"]["elapsed_ms"] >= before["elapsed_ms"], after_)

    # 6. The report.
    rep = call("GET", API + "/reports/sla?client_id=%d&by=priority" % A)
    groups = {g["priority"]: g for g in rep.get("groups", [])}
    check("the report counts met and breached first responses by priority",
          groups.get("urgent", {}).get("first_response", {}).get("breached") == 1
          and groups["urgent"]["first_response"]["met"] == 1, rep)
    check("with median and p90 times", isinstance(
        groups.get("urgent", {}).get("first_response", {}).get("median_ms"), int), rep)
    rep = call("GET", API + "/reports/sla?client_id=%d&by=policy" % A)
    check("and by policy", {g["policy"] for g in rep.get("groups", [])} <= {
        "Urgent", "Normal", "Escalating"} and rep.get("groups"), rep)
    rep = call("GET", API + "/reports/sla?client_id=%d&by=day" % A)
    check("and by day", all(len(g["day"]) == 10 for g in rep.get("groups", [])), rep)


if __name__ == "__main__":
    finish(main)

#!/usr/bin/env python3
"""Card data never reaches storage or logs; sensitive fields are sealed;
inbound messages are scored for sentiment.

    harness.py --bin BUILD/caredesk --store sqlite|pg -- python3 tests/api/test_privacy.py

1. Card numbers (in several layouts), card codes, expiry dates, SSNs and
   IBANs go in through every ingest path of the API: interaction subject,
   custom fields and first message; inbound, outbound and note messages;
   customer names (new and changed, and customers created from an
   interaction); subject changes; workflow answers. Every answer shows them
   masked, each path leaves a "redacted" event with kinds and counts and no
   value. Then the SQLite file and its WAL (or every file of the PostgreSQL
   cluster and a pg_dump of the database) and the server log are scanned:
   none of the values is there.
2. Email and phone masking follow each client's policy.
3. Sensitive customer fields: sealed at rest, masked in every answer,
   revealed only to roles allowed to and only within the client, every
   reveal audited; unknown fields refused; key rotation with the CLI; a
   server started with a missing key file refuses to start and says why; a
   server without keys answers reveals with a clear error.
4. Sentiment: inbound messages get a score and label, replies and notes
   none; the interaction keeps start, end and lowest; one alert event when
   the customer's sentiment falls below the client's threshold.

Ends with `N passed, N failed`.
"""
import glob
import http.client
import json
import os
import subprocess
import tempfile
import time
import urllib.parse

from apitest import API, URL, admin, call, check, finish, must, until

BIN = os.environ["CAREDESK_BIN"]
DB = os.environ["CAREDESK_DB"]
KEY_FILE = os.environ["CAREDESK_KEY_FILE"]
LOG = os.environ["CAREDESK_LOG"]
PGDIR = os.environ.get("CAREDESK_PGDIR", "")
SRC = os.environ["CAREDESK_SRC"]












def cli(*args):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=120)


def user(email, role, clients):
    must(admin("POST", API + "/users", {"email": email, "name": email.split("@")[0], "role": role,
                                        "password": "privacy-pass-1", "clients": clients}),
         201, "user " + email)
    r = cli("token", "create", "--db", DB, "--email", email)
    check("token for " + email, r.returncode == 0, r.stderr)
    return r.stdout.strip().splitlines()[-1]


# Secrets planted through the API, each with the text that must never be
# stored (the digits as typed and as bare digits).
CARDS = ["4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005",
         "6011.1111.1111.1117", "3530 1113\n3330 0000"]
SECRETS = []


def secret(text):
    SECRETS.append(text)
    return text


def needles():
    out = set()
    for s in SECRETS:
        digits = "".join(ch for ch in s if ch.isalnum())
        out.add(digits[:-4])  # everything but the last four
        out.add(s[:-4])
    return {n.encode() for n in out if len(n) >= 6}


def events(token, iid):
    return call(token, "GET", API + "/interactions/%d/events?limit=200" % iid).get("items", [])


def redacted_kinds(token, iid):
    kinds = {}
    for e in events(token, iid):
        if e.get("kind") == "redacted":
            for k, n in (e.get("after_json") or {}).get("kinds", {}).items():
                kinds[k] = kinds.get(k, 0) + n
    return kinds


def main():
    # ---- setup: two clients, A masking emails and phones, with sensitive fields
    A = must(admin("POST", API + "/clients", {
        "slug": "priv-a", "name": "Privacy A", "privacy": {
            "redact_emails": True, "redact_phones": True,
            "sensitive_fields": ["date_of_birth", "member_number"],
            "sentiment_alert_below": -0.4}}), 201, "client A")
    B = must(admin("POST", API + "/clients", {"slug": "priv-b", "name": "Privacy B"}), 201,
             "client B")
    check("client privacy settings as given", A.get("privacy", {}).get("redact_emails") is True
          and A["privacy"].get("sensitive_fields") == ["date_of_birth", "member_number"]
          and abs(A["privacy"].get("sentiment_alert_below", 0) + 0.4) < 1e-9, A)
    check("privacy defaults: nothing optional masked, no sensitive fields",
          B.get("privacy", {}).get("redact_emails") is False
          and B["privacy"].get("sensitive_fields") == [], B)
    r = admin("PATCH", API + "/clients/%d" % B["id"], {"privacy": {"sensitive_fields": ["Bad Name"]}})
    check("sensitive field names are checked", r.status == 422, dict(r))
    r = admin("PATCH", API + "/clients/%d" % B["id"], {"privacy": {"sentiment_alert_below": 2}})
    check("sentiment threshold must lie in [-1, 1]", r.status == 400, dict(r))
    A, B = A["id"], B["id"]
    agentA = user("agent@priv-a.test", "agent", [A])
    qaA = user("qa@priv-a.test", "qa", [A])
    agentB = user("agent@priv-b.test", "agent", [B])

    # ---- 1. every ingest path
    it = must(call(agentA, "POST", API + "/interactions", {
        "client_id": A, "channel": "email", "subject": "Card " + secret(CARDS[0]),
        "custom_fields": {"note": "ssn " + secret("078-05-1120")},
        "customer": {"name": "Pat " + secret(CARDS[2]),
                     "identities": [{"kind": "email", "value": "pat@example.com"}]},
        "message": {"direction": "inbound",
                    "body": "Please charge " + secret(CARDS[1]) + " exp 09/28 cvv 737, write to "
                    "pat.lee@example.com or call +1 (415) 555-0182"}}), 201,
        "interaction with card data")
    iid = it["id"]
    body = it.get("message", {}).get("body", "")
    check("first message masked as it is answered",
          "**** **** **** 1111" in it.get("subject", "") and "****-****-****-4444" in body
          and "**/**" in body and "cvv ***" in body and "p******@example.com" in body
          and "***) ***-0182" in body, it)
    check("custom field masked", it.get("custom_fields", {}).get("note") == "ssn ***-**-1120", it)
    cust = call(agentA, "GET", API + "/customers/%d" % it["customer_id"])
    check("customer created from the interaction has its name masked",
          cust.get("name") == "Pat ***********0005", cust)
    for direction, before, value, after in (
            ("inbound", "my other card ", CARDS[3], "."),
            ("outbound", "we saw ", CARDS[4], " on file"),
            ("note", "IBAN ", "GB82 WEST 1234 5698 7654 32", ", refund there")):
        m = must(call(agentA, "POST", API + "/interactions/%d/messages" % iid,
                      {"direction": direction, "body": before + secret(value) + after}), 201,
                 direction + " message")
        check(direction + " message masked, the last four kept",
              m["body"].startswith(before) and m["body"].endswith(value[-4:] + after)
              and "*" in m["body"], m)
    r = must(call(agentA, "PATCH", API + "/interactions/%d" % iid,
                  {"subject": "Now " + secret("4012 8888 8888 1881")}), 200,
             "subject change")
    check("changed subject masked", r.get("subject") == "Now **** **** **** 1881", r)
    r = must(call(agentA, "PATCH", API + "/interactions/%d" % iid, {
        "category": "card " + secret("5200 8282 8282 8210"),
        "tags": ["vip", secret("6011000990139424")],
        "custom_fields": {secret("371449635398431"): "key", "num": int(secret("3566002020360505"))}}),
        200, "fields, tags, category, keys and numbers with cards")
    check("category, tags, custom field keys and numbers masked",
          r.get("category") == "card **** **** **** 8210"
          and sorted(r.get("tags", [])) == sorted(["vip", "************9424"])
          and r.get("custom_fields", {}).get("***********8431") == "key"
          and r["custom_fields"].get("num") == "************0505", r)
    c2 = must(call(agentA, "POST", API + "/customers",
                   {"client_id": A, "name": "Lee " + secret("5105 1051 0510 5100")}), 201,
              "customer with a card in the name")
    check("customer name masked", c2.get("name") == "Lee **** **** **** 5100", c2)
    r = must(call(agentA, "PATCH", API + "/customers/%d" % c2["id"],
                  {"name": "Lee " + secret("4000 0566 5566 5556")}), 200, "customer rename")
    check("renamed customer masked", r.get("name") == "Lee **** **** **** 5556", r)
    # A workflow whose text answer carries a card.
    wf = must(admin("POST", API + "/workflows", {"client_id": A, "document": {
        "id": "ask-ref", "version": 1, "start": "ref", "nodes": [
            {"id": "ref", "kind": "ask", "type": "text", "prompt": "Reference?", "next": "done"},
            {"id": "done", "kind": "end", "outcome": "resolved", "code": "OK"}]}}), 201,
        "workflow")
    must(admin("POST", API + "/workflows/%d/publish" % wf["id"]), 201, "publish")
    sess = must(call(agentA, "POST", API + "/interactions/%d/sessions" % iid,
                     {"workflow_id": wf["id"]}), 201, "session")
    r = must(call(agentA, "POST", API + "/sessions/%d/answer" % sess["id"],
                  {"answer": "card " + secret("4242 4242 4242 4242")}), 200, "answer")
    got = call(agentA, "GET", API + "/sessions/%d" % sess["id"])
    check("workflow answer stored masked", "**** **** **** 4242" in json.dumps(got)
          and "4242 4242 4242 4242" not in json.dumps(got), got)
    wfn = must(admin("POST", API + "/workflows", {"client_id": A, "document": {
        "id": "ask-num", "version": 1, "start": "n", "nodes": [
            {"id": "n", "kind": "ask", "type": "number", "prompt": "Account number?",
             "next": "done"},
            {"id": "done", "kind": "end", "outcome": "resolved", "code": "OK"}]}}), 201,
        "number workflow")
    must(admin("POST", API + "/workflows/%d/publish" % wfn["id"]), 201, "publish number")
    sn = must(call(agentA, "POST", API + "/interactions/%d/sessions" % iid,
                   {"workflow_id": wfn["id"]}), 201, "number session")
    r = call(agentA, "POST", API + "/sessions/%d/answer" % sn["id"],
             {"answer": int(secret("4917610000000000"))})
    check("a card number given as a number answer is refused", r.status == 422, dict(r))
    r = call(agentA, "PUT", API + "/agents/me/state",
             {"state": "away", "reason": "card " + secret("4000 0025 0000 3155")})
    check("an away reason is masked", r.status == 200
          and r.get("reason") == "card **** **** **** 3155", dict(r))
    call(agentA, "PUT", API + "/agents/me/state", {"state": "offline"})
    for field in ("timezone", "locale"):
        r = call(agentA, "PATCH", API + "/customers/%d" % c2["id"],
                 {field: secret("4000002760003184")})
        check("a customer's %s must be one (a card number is refused)" % field,
              r.status == 422 and r.get("error", {}).get("field") == field, dict(r))
    art = must(admin("POST", API + "/articles", {
        "client_id": A, "title": "Refunds", "body": "How refunds work.",
        "tags": ["refund", secret("6011111111111117")]}), 201, "article with a card tag")
    check("article tags masked", "************1117" in art.get("tags", []), art)
    login = call("", "POST", API + "/auth/login",
                 {"email": secret("5425233430109903"), "password": "nope-nope-nope"})
    check("a failed login with a card number as the account -> 401", login.status == 401,
          dict(login))
    r = call(agentA, "PATCH", API + "/interactions/%d" % iid, {secret("2223003122003222"): 1})
    check("an unknown field named like a card is refused without echoing it",
          r.status == 400 and "3222" in json.dumps(dict(r))
          and "222300312200" not in json.dumps(dict(r)), dict(r))
    r = call(agentA, "PATCH", API + "/interactions/%d" % iid,
             {"custom_fields": {"dec": float(secret("5500005555555559")) + 0.5}})
    dec = r.get("custom_fields", {}).get("dec")
    check("a number with a fraction that may have been a card is masked", r.status == 200
          and isinstance(dec, str) and dec.startswith("************"), dict(r))
    r = call(agentA, "PATCH", API + "/customers/%d" % c2["id"],
             {"locale": "en-" + secret("4000-0007-6000-0002")})
    check("a locale made of a card number's groups is refused",
          r.status == 422 and r.get("error", {}).get("field") == "locale", dict(r))
    r = call(agentA, "GET", API + "/interactions",
             query={"q" * 30 + secret("2222400070000005"): "1"})
    check("an unknown query parameter's name is masked before it is cut",
          r.status == 400 and "22224000700" not in json.dumps(dict(r)), dict(r))
    u = urllib.parse.urlsplit(URL)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("POST", API + "/interactions/%d/messages" % iid,
                 json.dumps({"direction": "note", "body": "keyed"}).encode(),
                 {"Authorization": "Bearer " + agentA, "Content-Type": "application/json",
                  "Idempotency-Key": "k" + secret("6011981111111113")})
    first = conn.getresponse()
    first_body = json.loads(first.read())
    conn.request("POST", API + "/interactions/%d/messages" % iid,
                 json.dumps({"direction": "note", "body": "keyed"}).encode(),
                 {"Authorization": "Bearer " + agentA, "Content-Type": "application/json",
                  "Idempotency-Key": "k6011981111111113"})
    again = conn.getresponse()
    again_body = json.loads(again.read())
    conn.close()
    check("an idempotency key like a card still replays (it is kept masked)",
          first.status == 201 and again.status == 201
          and again_body.get("id") == first_body.get("id"), (first_body, again_body))
    must(admin("POST", API + "/rules", {
        "client_id": A, "name": "join", "event": "updated",
        "actions": [{"type": "notify_supervisors",
                     "text": "N {{interaction.custom_fields.h1}}{{interaction.custom_fields.h2}}"}]}),
         201, "rule joining two fields")
    pan = secret("4035501000000008")
    must(call(agentA, "PATCH", API + "/interactions/%d" % iid,
              {"custom_fields": {"h1": pan[:8], "h2": pan[8:]}}), 200, "halves of a card")
    notes = [e for e in events(agentA, iid) if e.get("kind") == "supervisors_notified"]
    check("a notice whose template joins fields into a card is masked",
          notes and "************0008" in json.dumps(notes[-1]), notes[-1:])
    wfj = must(admin("POST", API + "/workflows", {"client_id": A, "document": {
        "id": "join", "version": 1, "start": "a", "nodes": [
            {"id": "a", "kind": "ask", "type": "text", "prompt": "First half?", "next": "b"},
            {"id": "b", "kind": "ask", "type": "text", "prompt": "Second half?", "next": "n"},
            {"id": "n", "kind": "act", "actions": [
                {"type": "note", "text": "ref {{answers.a}}{{answers.b}}"}], "next": "done"},
            {"id": "done", "kind": "end", "outcome": "resolved", "code": "OK"}]}}), 201,
        "workflow joining answers")
    must(admin("POST", API + "/workflows/%d/publish" % wfj["id"]), 201, "publish join")
    sj = must(call(agentA, "POST", API + "/interactions/%d/sessions" % iid,
                   {"workflow_id": wfj["id"]}), 201, "join session")
    pan = secret("5105105105105100")
    must(call(agentA, "POST", API + "/sessions/%d/answer" % sj["id"], {"answer": pan[:8]}), 200,
         "first half")
    r = call(agentA, "POST", API + "/sessions/%d/answer" % sj["id"], {"answer": pan[8:]})
    check("step effects that join answers into a card are masked in the answer",
          r.status == 200 and "************5100" in json.dumps(dict(r))
          and pan[:12] not in json.dumps(dict(r)), dict(r))
    kinds = redacted_kinds(agentA, iid)
    check("redacted events count every kind masked on the interaction",
          kinds.get("card", 0) >= 6 and kinds.get("cvv") == 1 and kinds.get("expiry") == 1
          and kinds.get("ssn") == 1 and kinds.get("iban") == 1 and kinds.get("email") == 1
          and kinds.get("phone") == 1, kinds)
    ev_text = json.dumps(events(agentA, iid))
    check("no event carries a value", not any(n.decode() in ev_text for n in needles()), "")

    # ---- 2. policy: client B masks neither emails nor phones
    itb = must(call(agentB, "POST", API + "/interactions", {
        "client_id": B, "channel": "chat", "message": {
            "direction": "inbound", "body": "mail pat.lee@example.com, call +1 (415) 555-0182, "
                                            "card " + secret("4111111111111111")}}), 201,
        "interaction in B")
    check("client B keeps emails and phones, masks cards",
          itb["message"]["body"] == "mail pat.lee@example.com, call +1 (415) 555-0182, card "
          "************1111", itb)
    r = must(admin("PATCH", API + "/clients/%d" % B, {"privacy": {"redact_emails": True}}), 200,
             "B turns email masking on")
    m = must(call(agentB, "POST", API + "/interactions/%d/messages" % itb["id"],
                  {"direction": "inbound", "body": "new address jo@example.org"}), 201,
             "message after the change")
    check("the new policy applies to later text", m["body"] == "new address j*@example.org", m)

    # ---- 3. sensitive fields
    c = must(call(agentA, "POST", API + "/customers", {
        "client_id": A, "name": "Morgan",
        "sensitive": {"date_of_birth": secret("1979-03-14"), "member_number": secret("MBR-77120934")}}),
        201, "customer with sensitive fields")
    check("sensitive values masked in the answer",
          c.get("sensitive") == {"date_of_birth": "********", "member_number": "********"}, c)
    g = call(agentA, "GET", API + "/customers/%d" % c["id"])
    check("masked on read", g.get("sensitive", {}).get("date_of_birth") == "********", g)
    lst = call(agentA, "GET", API + "/customers?client_id=%d" % A)
    check("masked in lists", "1979-03-14" not in json.dumps(lst) and lst.status == 200, lst)
    rv = call(agentA, "GET", API + "/customers/%d/sensitive" % c["id"])
    check("an agent of the client reveals them", rv.status == 200 and rv.get("sensitive") == {
        "date_of_birth": "1979-03-14", "member_number": "MBR-77120934"}, dict(rv))
    check("qa may not reveal", call(qaA, "GET", API + "/customers/%d/sensitive" % c["id"]).status
          == 403)
    check("another client's agent gets not found",
          call(agentB, "GET", API + "/customers/%d/sensitive" % c["id"]).status == 404)
    audit = admin("GET", API + "/audit?limit=200")
    reveals = [e for e in audit.get("items", []) if e.get("action") == "reveal"
               and e.get("entity_id") == c["id"]]
    check("the reveal is audited with the fields read", len(reveals) == 1
          and "date_of_birth" in json.dumps(reveals[0]), audit.get("items", [])[:3])
    r = call(agentA, "POST", API + "/customers", {"client_id": A, "sensitive": {"ssn": "x"}})
    check("a field the client did not mark sensitive is refused", r.status == 422, dict(r))
    r = call(agentA, "POST", API + "/customers",
             {"client_id": A, "sensitive": {"date_of_birth": 19790314}})
    check("a sensitive value must be a string", r.status == 422, dict(r))
    r = call(agentA, "PATCH", API + "/customers/%d" % c["id"],
             {"sensitive": {"member_number": None}})
    check("null removes a sensitive value", r.status == 200 and "member_number" not in
          r.get("sensitive", {}), dict(r))
    r = call(agentA, "PATCH", API + "/customers/%d" % c["id"],
             {"sensitive": {"member_number": "MBR-5"}})
    check("a sensitive value can be set again", r.status == 200
          and call(agentA, "GET", API + "/customers/%d/sensitive" % c["id"]).get(
              "sensitive", {}).get("member_number") == "MBR-5", dict(r))

    # ---- 4. sentiment of inbound messages; A alerts below -0.4
    s1 = must(call(agentA, "POST", API + "/interactions", {
        "client_id": A, "channel": "chat", "message": {
            "direction": "inbound", "body": "Thanks, the new router works great!"}}), 201,
        "a happy customer")
    m1 = s1.get("message", {})
    check("an inbound message carries a positive score and label",
          isinstance(m1.get("sentiment"), float) and 0 < m1["sentiment"] <= 1
          and m1.get("sentiment_label") == "positive", m1)
    check("the interaction starts its trajectory", s1.get("sentiment", {}).get("start")
          == m1.get("sentiment"), s1.get("sentiment"))
    sid = s1["id"]
    m2 = must(call(agentA, "POST", API + "/interactions/%d/messages" % sid, {
        "direction": "inbound", "body": "It is NOT working again and I am furious!!! Terrible."}),
        201, "the customer turns angry")
    check("negative score and label", isinstance(m2.get("sentiment"), float)
          and -1 <= m2["sentiment"] < -0.4 and m2.get("sentiment_label") == "negative", m2)
    m3 = must(call(agentA, "POST", API + "/interactions/%d/messages" % sid, {
        "direction": "inbound", "body": "Still broken, this is awful."}), 201, "still angry")
    note = must(call(agentA, "POST", API + "/interactions/%d/messages" % sid, {
        "direction": "note", "body": "awful awful awful"}), 201, "an agent's note")
    check("notes and replies are not scored", note.get("sentiment") is None
          and note.get("sentiment_label") is None, note)
    m4 = must(call(agentA, "POST", API + "/interactions/%d/messages" % sid, {
        "direction": "inbound", "body": "OK, it works now. Thank you, very helpful!"}), 201,
        "calmer again")
    got = call(agentA, "GET", API + "/interactions/%d" % sid).get("sentiment", {})
    check("trajectory: start, end and lowest", got.get("start") == m1["sentiment"]
          and got.get("end") == m4["sentiment"]
          and got.get("low") == min(m2["sentiment"], m3["sentiment"]), got)
    alerts = [e for e in events(agentA, sid) if e.get("kind") == "sentiment_alert"]
    check("one alert when sentiment fell below the threshold (not again while below)",
          len(alerts) == 1 and alerts[0]["after_json"].get("threshold") == -0.4, alerts)
    s5 = must(call(agentA, "POST", API + "/interactions", {
        "client_id": A, "channel": "chat", "message": {
            "direction": "inbound", "body": "This is terrible, I am furious, nothing works!!!"}}),
        201, "a contact that starts angry")
    first = [e for e in events(agentA, s5["id"]) if e.get("kind") == "sentiment_alert"]
    check("a first message below the threshold alerts at once",
          len(first) == 1 and s5.get("sentiment", {}).get("low", 0) < -0.4, (first, s5))
    listed = call(agentA, "GET", API + "/interactions/%d/messages" % sid).get("items", [])
    check("listed messages carry their scores",
          [m.get("sentiment") for m in listed] == [m1["sentiment"], m2["sentiment"],
                                                   m3["sentiment"], None, m4["sentiment"]],
          listed)

    # ---- storage and logs hold none of the planted values
    time.sleep(0.3)
    found = []
    files = []
    if PGDIR:
        files = [p for p in glob.glob(os.path.join(PGDIR, "**"), recursive=True)
                 if os.path.isfile(p)]
        url = urllib.parse.urlsplit(DB)
        dump = subprocess.run(["pg_dump", "-h", url.hostname, "-p", str(url.port), "-U",
                               url.username or "postgres", url.path.lstrip("/")],
                              capture_output=True, timeout=120)
        check("pg_dump ran", dump.returncode == 0 and b"CREATE TABLE" in dump.stdout,
              dump.stderr[:300])
        check("the dump holds sealed values", b"v1:" in dump.stdout, "")
        for n in needles():
            if n in dump.stdout:
                found.append(("pg_dump", n))
    else:
        files = [p for p in (DB, DB + "-wal", DB + "-shm") if os.path.exists(p)]
    files.append(LOG)
    check("files to scan exist", len(files) >= 2, files)
    for p in files:
        try:
            with open(p, "rb") as f:
                data = f.read()
        except OSError:
            continue
        for n in needles():
            if n in data:
                found.append((p, n))
    check("no planted value in the store's files, the dump or the server log (%d files)"
          % len(files), not found, found[:5])

    # ---- keys: rotation, a lost key file, no key file
    before = open(KEY_FILE).read().count("caredesk-key ")
    r = cli("keys", "rotate", "--db", DB, "--key-file", KEY_FILE)
    check("keys rotate reseals every value", r.returncode == 0 and "sealed 2 values" in r.stdout,
          r.stdout + r.stderr)
    check("rotation adds a key and keeps the old one",
          open(KEY_FILE).read().count("caredesk-key ") == before + 1)
    srv = subprocess.Popen([BIN, "serve", "--db", DB, "--listen", "127.0.0.1:0", "--quiet",
                            "--key-file", KEY_FILE, "--web", os.path.join(SRC, "web")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline().strip()
        url2 = line[len("listening on "):]
        rv = call(agentA, "GET", API + "/customers/%d/sensitive" % c["id"], url=url2)
        check("a server with the rotated key file reveals resealed values",
              rv.status == 200 and rv.get("sensitive", {}).get("date_of_birth") == "1979-03-14",
              dict(rv))
    finally:
        srv.terminate()
        srv.wait(timeout=15)
    r = cli("keys", "rotate", "--db", DB, "--key-file", KEY_FILE, "--drop-old")
    check("rotate --drop-old leaves one key", r.returncode == 0
          and open(KEY_FILE).read().count("caredesk-key ") == 1, r.stdout + r.stderr)
    missing = os.path.join(tempfile.mkdtemp(), "gone.key")
    r = subprocess.run([BIN, "serve", "--db", DB, "--listen", "127.0.0.1:0", "--key-file",
                        missing], capture_output=True, text=True, timeout=30)
    check("a missing key file stops the server with a clear message",
          r.returncode == 1 and "cannot be read" in r.stderr and "Restore" in r.stderr, r.stderr)
    env = dict(os.environ, CAREDESK_KEY_FILE="")
    srv = subprocess.Popen([BIN, "serve", "--db", DB, "--listen", "127.0.0.1:0", "--quiet",
                            "--web", os.path.join(SRC, "web")], env=env, cwd=tempfile.mkdtemp(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url3 = srv.stdout.readline().strip()[len("listening on "):]
        rv = call(agentA, "GET", API + "/customers/%d/sensitive" % c["id"], url=url3)
        check("without keys a reveal fails and says why", rv.status == 409
              and "key file" in rv.get("error", {}).get("message", ""), dict(rv))
        rv = call(agentA, "POST", API + "/customers",
                  {"client_id": A, "sensitive": {"date_of_birth": "2000-01-01"}}, url=url3)
        check("without keys a sensitive write is refused", rv.status == 409, dict(rv))
        rv = call(agentA, "GET", API + "/customers/%d" % c["id"], url=url3)
        check("without keys customers still read, masked", rv.status == 200
              and rv.get("sensitive", {}).get("date_of_birth") == "********", dict(rv))
    finally:
        srv.terminate()
        srv.wait(timeout=15)
    r = cli("audit", "verify", "--db", DB)
    check("audit chain intact", r.returncode == 0, r.stdout + r.stderr)


if __name__ == "__main__":
    finish(main)

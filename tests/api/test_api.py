#!/usr/bin/env python3
"""Black-box API tests for caredesk, run against a live server.

    harness.py --bin BUILD/caredesk --store sqlite|pg -- python3 tests/api/test_api.py

The harness starts `caredesk serve` on an empty store holding one admin and
passes CAREDESK_URL, CAREDESK_ADMIN_TOKEN, CAREDESK_BIN, CAREDESK_DB,
CAREDESK_SRC and CAREDESK_STORE. Standard library only.

Sections (each prints one line per check):
  setup        clients A and B (and helpers), users of every role, tokens,
               customers, interactions and messages on both sides
  functional   CRUD, pagination, filters, identity matching across channels,
               history, lifecycle, versions, events, custom fields, tags,
               idempotency (sequential and concurrent), CSRF, cookies,
               logout, token revocation, role permissions, login throttling
               per account, audit of reads and `audit verify`, metrics,
               health, route table vs OpenAPI, 404/405
  hostile      SQL-looking and HTML/script values stored verbatim, long
               query values, path traversal on static files
  tenant       generated from openapi.json: every route with a path
               parameter called with client B's ids by client A's
               supervisor and agent must answer exactly like a missing id;
               client_id=B in queries and bodies; nothing of B changes and
               A's lists never show B's rows
  malformed    generated from openapi.json: for each write route with a
               body, broken JSON, wrong shapes, missing/unknown fields,
               wrong types, oversized bodies and strings, bad UTF-8, NUL;
               store-level invalid values; nothing changes in the store
  throttle     login throttling per address (runs last: it locks
               127.0.0.1 out of logins for 15 minutes)

Ends with the line `N passed, N failed`; exits 1 on any failure.
"""
import http.client
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse

from apitest import read_events

URL = os.environ["CAREDESK_URL"]
ADMIN = os.environ["CAREDESK_ADMIN_TOKEN"]
BIN = os.environ.get("CAREDESK_BIN", "")
DB = os.environ.get("CAREDESK_DB", "")
SRC = os.environ.get("CAREDESK_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
STORE = os.environ.get("CAREDESK_STORE", "sqlite")
_u = urllib.parse.urlsplit(URL)
HOST, PORT = _u.hostname, _u.port
API = "/api/v1"
MISSING = 999999999  # an id that exists nowhere
ROLES = ["admin", "supervisor", "agent", "qa", "wfm", "client_viewer"]

# --------------------------------------------------------------------------
# checks and output

PASSED = 0
FAILED = 0
_out_lock = threading.Lock()


def check(name, ok, detail=""):
    """Records one check; returns ok so callers can chain."""
    global PASSED, FAILED
    with _out_lock:
        if ok:
            PASSED += 1
            print("PASS %s" % name)
        else:
            FAILED += 1
            print("FAIL %s%s" % (name, (" -- " + str(detail)[:600]) if detail else ""))
        sys.stdout.flush()
    return bool(ok)


def section(title):
    print("== %s" % title)
    sys.stdout.flush()


_rand_base = "%05d" % (int(time.time() * 1000) % 100000)
_rand_counter = itertools.count(1)
_rand_lock = threading.Lock()


def rand():
    """A unique string of 9 digits (valid inside slugs, emails and phones)."""
    with _rand_lock:
        return "%s%04d" % (_rand_base, next(_rand_counter) % 10000)


# --------------------------------------------------------------------------
# HTTP

class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def headers_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def code(self):
        """The error code of an error response, else None."""
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("code")
        return None

    @property
    def error(self):
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"]
        return None

    def get(self, key, default=None):
        return self.json.get(key, default) if isinstance(self.json, dict) else default

    def __repr__(self):
        return "%s %s" % (self.status, self.body[:300].decode("utf-8", "replace"))


def call(method, path, body=None, token=None, cookie=None, csrf=None, headers=None,
         query=None, timeout=60):
    """One request on a fresh connection. body: dict/list (JSON), str or bytes.
    Returns a Resp; a transport failure gives status 0."""
    if query:
        path = path + ("&" if "?" in path else "?") + urllib.parse.urlencode(query)
    hdrs = {}
    data = None
    if body is not None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode("utf-8")
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = body
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = "Bearer " + token
    if cookie:
        hdrs["Cookie"] = "cd_session=" + cookie
    if csrf:
        hdrs["X-CSRF-Token"] = csrf
    if headers:
        hdrs.update(headers)
    conn = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return Resp(r.status, r.getheaders(), r.read())
    except (OSError, http.client.HTTPException) as e:
        return Resp(0, [], ("transport error: %r" % e).encode())
    finally:
        conn.close()


def raw_request(data, timeout=30):
    """Sends raw bytes, reads until the server closes; tolerates the server
    answering (and closing) before the whole request was sent."""
    s = socket.create_connection((HOST, PORT), timeout=timeout)
    buf = b""
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
        except OSError:
            pass
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return Resp(0, [], buf)
    hdrs = []
    for ln in lines[1:]:
        k, _, v = ln.decode("latin-1").partition(":")
        hdrs.append((k.strip(), v.strip()))
    return Resp(status, hdrs, body)


def raw_http(method, path, body=b"", token=None, extra=b""):
    head = "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n" % (method, path, HOST, PORT)
    if token:
        head += "Authorization: Bearer %s\r\n" % token
    if body or method in ("POST", "PUT", "PATCH"):
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return raw_request(head.encode() + extra + b"\r\n" + body)


def walk(path, token, query=None, limit=200, max_pages=200):
    """All items of a paged list, following next_cursor. Returns (items, pages, error)."""
    items, pages, cursor = [], 0, None
    while True:
        q = dict(query or {})
        q["limit"] = limit
        if cursor:
            q["cursor"] = cursor
        r = call("GET", path, token=token, query=q)
        if r.status != 200 or not isinstance(r.get("items"), list):
            return items, pages, r
        items.extend(r.json["items"])
        pages += 1
        cursor = r.json.get("next_cursor")
        if not cursor or pages >= max_pages:
            return items, pages, None


def expect(name, r, status, code=None):
    """Checks status (and error code); returns whether it matched."""
    ok = r.status == status and (code is None or r.code == code)
    return check(name, ok, "want %s%s, got %r" % (status, " " + code if code else "", r))


# --------------------------------------------------------------------------
# shared state

class Ctx:
    pass


S = Ctx()


def admin(method, path, body=None, **kw):
    return call(method, path, body=body, token=ADMIN, **kw)


def must(r, status, what):
    """Setup helper: a failed setup step raises, failing the section."""
    if r.status != status:
        raise RuntimeError("%s: want %s, got %r" % (what, status, r))
    return r.json


def parallel(fns):
    """Runs callables in threads; returns their results in order (exceptions re-raised)."""
    results = [None] * len(fns)
    errors = [None] * len(fns)

    def run(i, f):
        try:
            results[i] = f()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors[i] = e

    ts = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(fns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for e in errors:
        if e:
            raise e
    return results


def login(email, password):
    """Logs in; returns (Resp, session cookie value or None, csrf or None)."""
    r = call("POST", API + "/auth/login", {"email": email, "password": password})
    if r.status == 401:
        with _out_lock:
            S.address_failures = getattr(S, "address_failures", 0) + 1
    cookie = None
    for v in r.headers_all("Set-Cookie"):
        m = re.match(r"cd_session=([^;]*)", v)
        if m and m.group(1):
            cookie = m.group(1)
    return r, cookie, r.get("csrf_token")


class User:
    def __init__(self, key, role, clients, password=True):
        self.key = key
        self.role = role
        self.clients = clients
        self.email = "%s-%s@example.test" % (key, rand())
        self.password = "pw-%s-%s" % (key, rand()) if password else None
        self.id = None
        self.token = None
        self.token_id = None
        self.cookie = None
        self.csrf = None
        self.set_cookie = None

    def create(self):
        body = {"email": self.email, "name": "User " + self.key, "role": self.role,
                "clients": self.clients}
        if self.password:
            body["password"] = self.password
        self.id = must(admin("POST", API + "/users", body), 201, "create user " + self.key)["id"]
        return self

    def login_and_token(self):
        r, self.cookie, self.csrf = login(self.email, self.password)
        must(r, 200, "login " + self.key)
        self.set_cookie = r.header("Set-Cookie")
        t = must(call("POST", API + "/tokens", {"name": "tests"}, cookie=self.cookie,
                      csrf=self.csrf), 201, "token for " + self.key)
        self.token, self.token_id = t["token"], t["id"]
        return self


def as_(user, method, path, body=None, **kw):
    return call(method, path, body=body, token=user.token, **kw)


# --------------------------------------------------------------------------
# 1. setup

def wait_offer(user, interaction, seconds=8.0):
    """Polls the user's pending offers until one is for interaction."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        r = as_(user, "GET", API + "/agents/me/offers")
        if r.status == 200:
            for o in r.json["items"]:
                if o["interaction_id"] == interaction:
                    return o
        time.sleep(0.05)
    raise RuntimeError("no offer of interaction %s reached user %s" % (interaction, user.id))


def setup():
    section("setup")
    S.clients = {}
    for key in ["A", "B", "P", "F", "H"]:
        c = must(admin("POST", API + "/clients", {"slug": "%s-%s" % (key.lower(), rand()),
                                                  "name": "Client " + key}), 201,
                 "create client " + key)
        S.clients[key] = c["id"]
    A, B = S.clients["A"], S.clients["B"]
    check("setup: clients created", len(set(S.clients.values())) == 5)

    S.u = {
        "supA": User("supa", "supervisor", [A]),
        "agentA": User("agenta", "agent", [A]),
        "agentAB": User("agentab", "agent", [A, B]),
        "supB": User("supb", "supervisor", [B]),
        "agentB": User("agentb", "agent", [B]),
        "qaA": User("qaa", "qa", [A]),
        "cvA": User("cva", "client_viewer", [A]),
        "wfmA": User("wfma", "wfm", [A]),
    }
    # Users without a password only serve as assignees or targets.
    S.agentF = User("agentf", "agent", [S.clients["F"]], password=False)
    S.target = User("target", "agent", [A], password=False)
    S.throttle_user = User("throttle", "agent", [A])
    everyone = list(S.u.values()) + [S.agentF, S.target, S.throttle_user]
    # Password hashing (argon2id) is slow: create and log in concurrently.
    for i in range(0, len(everyone), 4):
        parallel([u.create for u in everyone[i:i + 4]])
    check("setup: users created", all(u.id for u in everyone))
    logins = list(S.u.values())
    for i in range(0, len(logins), 4):
        parallel([u.login_and_token for u in logins[i:i + 4]])
    check("setup: every user logged in and holds an API token",
          all(u.token and u.cookie and u.csrf for u in logins))

    # Customers, interactions and messages on both sides.
    S.custA_email = "cust-a-%s@example.test" % rand()
    S.custB_email = "cust-b-%s@example.test" % rand()
    S.custB_phone = "+44 20 %s" % rand()[:7]
    S.custA = must(as_(S.u["agentA"], "POST", API + "/customers",
                       {"client_id": A, "name": "Alice A", "identities": [
                           {"kind": "email", "value": S.custA_email}]}), 201,
                   "customer A")["id"]
    S.custB = must(as_(S.u["agentB"], "POST", API + "/customers",
                       {"client_id": B, "name": "Bob B", "tier": "premium", "identities": [
                           {"kind": "email", "value": S.custB_email},
                           {"kind": "phone", "value": S.custB_phone}]}), 201,
                   "customer B")["id"]
    ia = must(as_(S.u["agentA"], "POST", API + "/interactions",
                  {"client_id": A, "channel": "email", "subject": "A's problem",
                   "customer_id": S.custA,
                   "message": {"direction": "inbound", "body": "Hello from A"}}), 201,
              "interaction A")
    S.intA = ia["id"]
    ib = must(as_(S.u["agentB"], "POST", API + "/interactions",
                  {"client_id": B, "channel": "chat", "subject": "B's secret",
                   "customer_id": S.custB, "tags": ["b-only"],
                   "custom_fields": {"account": "B-123"},
                   "message": {"direction": "inbound", "body": "Hello from B"}}), 201,
              "interaction B")
    S.intB = ib["id"]
    S.queueA = must(admin("POST", API + "/queues", {"client_id": A, "name": "billing-a"}), 201,
                    "queue A")["id"]
    S.queueB = must(admin("POST", API + "/queues", {"client_id": B, "name": "billing-b"}), 201,
                    "queue B")["id"]
    # Routing: one agent of each client goes available and is offered its
    # client's waiting interaction by the server's router.
    must(as_(S.u["agentB"], "PUT", API + "/agents/me/state", {"state": "available"}), 200,
         "agent B available")
    S.offerB = wait_offer(S.u["agentB"], S.intB)["id"]
    must(as_(S.u["agentA"], "PUT", API + "/agents/me/state", {"state": "available"}), 200,
         "agent A available")
    S.offerA = wait_offer(S.u["agentA"], S.intA)["id"]
    # Guided workflows: one published per client, a session on each side.
    for side, client, it in (("A", A, S.intA), ("B", B, S.intB)):
        wf = must(admin("POST", API + "/workflows", {"client_id": client, "document": {
            "id": "verify-" + side, "version": 1, "start": "verify", "nodes": [
                {"id": "verify", "kind": "check", "required": True, "text": "Verify identity",
                 "next": "topic"},
                {"id": "topic", "kind": "ask", "type": "choice", "prompt": "Topic?",
                 "options": ["billing", "other"], "next": "tag"},
                {"id": "tag", "kind": "act", "actions": [{"type": "tag", "tag": "wf-done"}],
                 "next": "done"},
                {"id": "done", "kind": "end", "outcome": "resolved", "code": "OK"}]}}), 201,
                  "workflow " + side)
        must(admin("POST", API + "/workflows/%d/publish" % wf["id"]), 201, "publish " + side)
        sess = must(admin("POST", API + "/interactions/%d/sessions" % it,
                          {"workflow_id": wf["id"]}), 201, "session " + side)
        setattr(S, "wf" + side, wf["id"])
        setattr(S, "sess" + side, sess["id"])
    # Knowledge base: one published article per client.
    for side, client in (("A", A), ("B", B)):
        art = must(admin("POST", API + "/articles", {
            "client_id": client, "title": "Resetting the router " + side,
            "body": "Hold the reset button for ten seconds.", "tags": ["router"],
            "status": "published"}), 201, "article " + side)
        setattr(S, "art" + side, art["id"])
        rule = must(admin("POST", API + "/rules", {
            "client_id": client, "name": "tag vip " + side, "event": "created",
            "condition": "interaction.subject == 'never matches " + side + "'",
            "actions": [{"type": "add_tag", "tag": "vip"}]}), 201, "rule " + side)
        setattr(S, "rule" + side, rule["id"])
        pol = must(admin("POST", API + "/sla/policies", {
            "client_id": client, "name": "never " + side,
            "conditions": {"queue": ["no-such-queue-" + side]},
            "targets": {"resolution": {"minutes": 600, "business": False}}}), 201, "policy " + side)
        setattr(S, "policy" + side, pol["id"])
    must(as_(S.u["agentB"], "POST", API + "/interactions/%d/messages" % S.intB,
             {"direction": "outbound", "body": "Reply within B"}), 201, "message B")
    must(as_(S.u["agentA"], "POST", API + "/interactions/%d/messages" % S.intA,
             {"direction": "note", "body": "Note within A"}), 201, "message A")
    check("setup: interactions carry their first message",
          isinstance(ia.get("message"), dict) and ia["message"].get("body") == "Hello from A"
          and ib.get("message", {}).get("body") == "Hello from B", ia)
    check("setup: interaction defaults (status new, priority normal, queue default, version 1)",
          ia.get("status") == "new" and ia.get("priority") == "normal"
          and ia.get("queue") == "default" and ia.get("version") == 1, ia)


# --------------------------------------------------------------------------
# 4. functional

def t_crud():
    A = S.clients["A"]
    r = admin("GET", API + "/clients/%d" % A)
    expect("clients: get", r, 200)
    check("clients: get returns slug, name and brand", r.get("name") == "Client A"
          and isinstance(r.get("brand"), dict), r)
    r = admin("PATCH", API + "/clients/%d" % S.clients["H"],
              {"name": "Client H renamed", "brand": {"signature": "-- H team"}})
    expect("clients: patch", r, 200)
    check("clients: patch applied", r.get("name") == "Client H renamed"
          and r.get("brand", {}).get("signature") == "-- H team", r)
    r = admin("GET", API + "/clients")
    check("clients: admin lists every client",
          r.status == 200 and set(S.clients.values()) <= {c["id"] for c in r.get("items", [])}, r)
    r = admin("POST", API + "/clients", {"slug": "dup-%s" % rand(), "name": "D"})
    r2 = admin("POST", API + "/clients", {"slug": r.get("slug"), "name": "D2"})
    expect("clients: duplicate slug -> 409", r2, 409, "conflict")

    r = admin("GET", API + "/users/%d" % S.u["agentAB"].id)
    check("users: get shows role and clients", r.status == 200 and r.get("role") == "agent"
          and sorted(r.get("clients", [])) == sorted([A, S.clients["B"]])
          and "password_hash" not in r.json and "password" not in r.json, r)
    r = admin("PATCH", API + "/users/%d" % S.target.id, {"name": "Renamed Target"})
    check("users: patch name", r.status == 200 and r.get("name") == "Renamed Target", r)
    r = admin("PUT", API + "/users/%d/skills" % S.target.id,
              {"skills": [{"name": "billing", "proficiency": 3}, {"name": "es", "proficiency": 5}]})
    check("users: put skills replaces skills", r.status == 200 and sorted(
        (s["name"], s["proficiency"]) for s in r.get("skills", [])) == [("billing", 3), ("es", 5)],
        r)
    r = admin("PUT", API + "/users/%d/skills" % S.target.id,
              {"skills": [{"name": "chat", "proficiency": 1}]})
    check("users: second put skills replaces (not merges)", r.status == 200 and [
        s["name"] for s in r.get("skills", [])] == ["chat"], r)
    r = admin("POST", API + "/users", {"email": S.target.email.upper(), "name": "X",
                                       "role": "agent"})
    expect("users: duplicate email (other case) -> 409", r, 409, "conflict")
    P = S.clients["P"]
    r = admin("PUT", API + "/users/%d/clients/%d" % (S.target.id, P))
    expect("users: membership add -> 204", r, 204)
    check("users: membership shows", P in admin("GET", API + "/users/%d" % S.target.id).get(
        "clients", []))
    r = admin("GET", API + "/users", query={"client_id": P})
    check("users: list by client_id finds the member", r.status == 200 and S.target.id in [
        u["id"] for u in r.get("items", [])], r)
    r = admin("DELETE", API + "/users/%d/clients/%d" % (S.target.id, P))
    expect("users: membership remove -> 204", r, 204)
    check("users: membership gone", P not in admin("GET", API + "/users/%d" % S.target.id).get(
        "clients", [P]))
    r = as_(S.u["agentA"], "GET", API + "/auth/me")
    check("auth/me with a token", r.status == 200 and r.get("user", {}).get("id") == S.u[
        "agentA"].id and [c["id"] for c in r.get("clients", [])] == [A], r)

    r = as_(S.u["agentA"], "GET", API + "/customers/%d" % S.custA)
    check("customers: get with identities", r.status == 200 and r.get("client_id") == A and [
        i["value"] for i in r.get("identities", [])] == [S.custA_email], r)
    r = as_(S.u["agentA"], "PATCH", API + "/customers/%d" % S.custA,
            {"tier": "enterprise", "locale": "fr-FR"})
    check("customers: patch", r.status == 200 and r.get("tier") == "enterprise"
          and r.get("locale") == "fr-FR" and r.get("name") == "Alice A", r)
    r = as_(S.u["agentA"], "PATCH", API + "/customers/%d" % S.custA, {"locale": None})
    check("customers: patch null clears a nullable field", r.status == 200
          and r.get("locale") is None, r)
    r = as_(S.u["agentA"], "POST", API + "/customers/%d/identities" % S.custA,
            {"kind": "chat", "value": "chat-%s" % rand()})
    expect("customers: add identity -> 201", r, 201)
    r2 = as_(S.u["agentA"], "POST", API + "/customers/%d/identities" % S.custA,
             {"kind": "email", "value": S.custA_email.upper()})
    expect("customers: identity already held (other case) -> 409", r2, 409, "conflict")
    r = as_(S.u["agentA"], "POST", API + "/customers",
            {"client_id": A, "identities": [{"kind": "phone", "value": "12"}]})
    expect("customers: phone with too few digits -> 422", r, 422, "invalid")

    r = as_(S.u["supA"], "GET", API + "/interactions/%d" % S.intA)
    check("interactions: get", r.status == 200 and r.get("subject") == "A's problem"
          and r.get("customer_id") == S.custA, r)
    r = as_(S.u["supA"], "GET", API + "/interactions/%d/messages" % S.intA)
    check("messages: list oldest first", r.status == 200 and [
        m["body"] for m in r.get("items", [])] == ["Hello from A", "Note within A"], r)
    items = r.get("items") or [{}, {}]
    check("messages: inbound has no author, a note has its author",
          items[0].get("author_id") is None and items[-1].get("author_id") == S.u["agentA"].id,
          items)
    r = as_(S.u["supA"], "GET", API + "/interactions/%d/messages" % S.intA, query={"limit": 1})
    cur = r.get("next_cursor")
    r2 = as_(S.u["supA"], "GET", API + "/interactions/%d/messages" % S.intA,
             query={"limit": 1, "cursor": cur or ""})
    check("messages: paging with cursor", r.status == 200 and cur and r2.status == 200 and [
        m["body"] for m in r2.get("items", [])] == ["Note within A"], (r, r2))
    r = as_(S.u["agentA"], "POST", API + "/interactions/%d/messages" % S.intA,
            {"direction": "outbound", "body": ""})
    expect("messages: empty body -> 422", r, 422, "invalid")


def t_pagination():
    P = S.clients["P"]
    created = []
    for i in range(120):
        r = admin("POST", API + "/interactions", {"client_id": P, "channel": "web",
                                                   "subject": "page %d" % i})
        if r.status != 201:
            check("pagination: create 120 interactions", False, r)
            return
        created.append(r.json["id"])
    check("pagination: created 120 interactions", len(set(created)) == 120)
    seen, pages, cursor, sizes = [], 0, None, []
    last_page = None
    while pages < 10:
        q = {"client_id": P, "limit": 50}
        if cursor:
            q["cursor"] = cursor
        r = admin("GET", API + "/interactions", query=q)
        if r.status != 200:
            check("pagination: page %d" % pages, False, r)
            return
        pages += 1
        sizes.append(len(r.json["items"]))
        seen.extend(i["id"] for i in r.json["items"])
        cursor = r.json.get("next_cursor")
        last_page = r.json
        if not cursor:
            break
    check("pagination: pages of 50, 50, 20", sizes == [50, 50, 20], sizes)
    check("pagination: last page has next_cursor null", last_page and last_page.get(
        "next_cursor") is None, last_page and last_page.get("next_cursor"))
    check("pagination: every interaction exactly once", sorted(seen) == sorted(created)
          and len(seen) == len(set(seen)), "%d seen, %d distinct" % (len(seen), len(set(seen))))
    check("pagination: newest first", seen == sorted(created, reverse=True))
    r = admin("GET", API + "/interactions", query={"client_id": P, "limit": 201})
    expect("pagination: limit over 200 -> 400", r, 400, "invalid")
    r = admin("GET", API + "/interactions", query={"client_id": P, "limit": 0})
    expect("pagination: limit 0 -> 400", r, 400, "invalid")
    r = admin("GET", API + "/interactions", query={"client_id": P, "cursor": "abc"})
    check("pagination: garbage cursor -> 4xx", r.status in (400, 422), r)


def t_filters():
    F = S.clients["F"]
    agent = S.agentF.id
    c1 = must(admin("POST", API + "/customers", {"client_id": F, "name": "F1"}), 201, "c1")["id"]
    c2 = must(admin("POST", API + "/customers", {"client_id": F, "name": "F2"}), 201, "c2")["id"]
    specs = [
        dict(channel="email", priority="high", status="new", queue="billing",
             tags=["vip", "refund"], customer_id=c1, assignee_id=agent),
        dict(channel="chat", priority="low", status="open", queue="tech", tags=["refund"],
             customer_id=c2),
        dict(channel="voice", priority="urgent", status="pending", queue="billing", tags=[],
             customer_id=c1, assignee_id=agent),
        dict(channel="web", priority="normal", status="on_hold", queue="default", tags=["vip"]),
        dict(channel="social", priority="high", status="resolved", queue="tech",
             tags=["Refund"], customer_id=c2),
    ]
    rows = []
    for s in specs:
        body = dict(s, client_id=F, subject="filter %s" % s["channel"])
        rows.append(must(admin("POST", API + "/interactions", body), 201, "filter row"))
    check("filters: assignee accepted when serving the client",
          rows[0].get("assignee_id") == agent, rows[0])
    time.sleep(0.01)
    upd = must(admin("PATCH", API + "/interactions/%d" % rows[1]["id"], {"priority": "high"}), 200,
               "touch")
    rows = [admin("GET", API + "/interactions/%d" % r["id"]).json for r in rows]
    ids = {r["id"] for r in rows}

    def q(name, params, pred):
        r = admin("GET", API + "/interactions", query=dict(params, client_id=F))
        got = {i["id"] for i in r.get("items", [])} if r.status == 200 else None
        want = {row["id"] for row in rows if pred(row)}
        check("filters: %s" % name, got == want and want <= ids,
              "want %s got %s (%r)" % (sorted(want), got and sorted(got), r))

    q("status=open", {"status": "open"}, lambda r: r["status"] == "open")
    q("priority=high", {"priority": "high"}, lambda r: r["priority"] == "high")
    q("assignee_id", {"assignee_id": agent}, lambda r: r.get("assignee_id") == agent)
    q("queue=billing", {"queue": "billing"}, lambda r: r["queue"] == "billing")
    q("channel=voice", {"channel": "voice"}, lambda r: r["channel"] == "voice")
    q("tag=refund (exact, case-sensitive)", {"tag": "refund"}, lambda r: "refund" in r["tags"])
    q("tag=vip", {"tag": "vip"}, lambda r: "vip" in r["tags"])
    q("customer_id", {"customer_id": c1}, lambda r: r.get("customer_id") == c1)
    t = upd["updated_at"]
    q("updated_since", {"updated_since": t}, lambda r: r["updated_at"] >= t)
    q("combined queue+priority", {"queue": "tech", "priority": "high"},
      lambda r: r["queue"] == "tech" and r["priority"] == "high")
    q("no match", {"queue": "nope-%s" % rand()}, lambda r: False)
    r = admin("GET", API + "/interactions", query={"status": "bogus"})
    expect("filters: unknown status value -> 400", r, 400, "invalid")
    r = admin("GET", API + "/interactions", query={"assignee_id": "abc"})
    expect("filters: non-integer assignee_id -> 400", r, 400, "invalid")
    r = admin("GET", API + "/interactions", query={"colour": "red"})
    expect("filters: unknown query parameter -> 400", r, 400, "invalid")


def t_identity_matching():
    A = S.clients["A"]
    ag = S.u["agentA"]

    def post(channel, identities, name=None):
        cust = {"identities": identities}
        if name:
            cust["name"] = name
        return as_(ag, "POST", API + "/interactions", {
            "client_id": A, "channel": channel, "subject": "via %s" % channel, "customer": cust,
            "message": {"direction": "inbound", "body": "contact via %s" % channel}})

    r1 = post("voice", [{"kind": "phone", "value": "+1 555 0100"}], name="Jane Doe")
    r2 = post("chat", [{"kind": "phone", "value": "+1 (555) 01-00"},
                       {"kind": "email", "value": "Jane.Doe.%s@Example.TEST" % _rand_base}])
    r3 = post("email", [{"kind": "email", "value": "  jane.doe.%s@example.test " % _rand_base}])
    cid = r1.get("customer_id")
    check("identity: first contact creates a customer", r1.status == 201 and cid, r1)
    check("identity: same phone, other formatting -> same customer",
          r2.status == 201 and r2.get("customer_id") == cid, r2)
    check("identity: email learnt on the 2nd contact (other case) -> same customer",
          r3.status == 201 and r3.get("customer_id") == cid, r3)
    S.jane = cid
    r = as_(ag, "GET", API + "/customers/%d" % (cid or MISSING))
    kinds = sorted((i["kind"], i["value"]) for i in r.get("identities", []))
    check("identity: customer holds normalised phone and email", kinds == [
        ("email", "jane.doe.%s@example.test" % _rand_base), ("phone", "+15550100")], r)
    r = as_(ag, "GET", API + "/customers", query={"identity_kind": "phone",
                                                   "identity": "+1 555 01 00"})
    check("identity: lookup by phone (any formatting) finds the customer", r.status == 200 and [
        c["id"] for c in r.get("items", [])] == [cid], r)
    r = as_(ag, "GET", API + "/customers", query={"identity_kind": "email",
                                                   "identity": S.custB_email})
    check("identity: lookup of client B's email from A finds nothing",
          r.status == 200 and r.get("items") == [], r)
    r = as_(ag, "GET", API + "/customers/%d/history" % (cid or MISSING))
    items = r.get("items", [])
    check("history: spans every channel, newest first", r.status == 200 and [
        i["channel"] for i in items] == ["email", "chat", "voice"], r)
    check("history: each interaction carries its messages", all(
        [m["body"] for m in i.get("messages", [])] == ["contact via %s" % i["channel"]]
        for i in items) and len(items) == 3, items)
    check("history: includes the customer", r.get("customer", {}).get("id") == cid, r)
    r = post("chat", [{"kind": "email", "value": "not-an-email"}])
    expect("identity: invalid email identity -> 422", r, 422, "invalid")
    # An identity of client B's customer, used in A: a new customer of A.
    r = post("email", [{"kind": "email", "value": S.custB_email}])
    check("identity: B's email used in A creates A's own customer (no cross-tenant match)",
          r.status == 201 and r.get("customer_id") not in (None, S.custB), r)
    r = as_(ag, "POST", API + "/customers/%d/identities" % S.custA,
            {"kind": "phone", "value": S.custB_phone})
    expect("identity: identities are unique per client (B's phone can be A's too) -> 201", r,
           201)


def t_lifecycle():
    A = S.clients["A"]
    sup = S.u["supA"]

    def new(status=None):
        body = {"client_id": A, "channel": "email", "subject": "lifecycle"}
        if status:
            body["status"] = status
        return must(as_(sup, "POST", API + "/interactions", body), 201, "lifecycle row")["id"]

    iid = new()
    path = API + "/interactions/%d" % iid
    for st in ["open", "pending", "on_hold", "open", "resolved", "closed"]:
        r = as_(sup, "PATCH", path, {"status": st})
        check("lifecycle: -> %s" % st, r.status == 200 and r.get("status") == st, r)
    r = as_(sup, "PATCH", path, {"status": "open"})
    expect("lifecycle: closed -> open -> 409", r, 409, "invalid_state")
    r = as_(sup, "POST", path + "/messages", {"direction": "outbound", "body": "late"})
    expect("lifecycle: message on a closed interaction -> 409", r, 409, "invalid_state")
    check("lifecycle: closed stays closed", as_(sup, "GET", path).get("status") == "closed")
    iid2 = new("resolved")
    r = as_(sup, "PATCH", API + "/interactions/%d" % iid2, {"status": "pending"})
    expect("lifecycle: resolved -> pending -> 409", r, 409, "invalid_state")
    r = as_(sup, "PATCH", API + "/interactions/%d" % iid2, {"status": "open"})
    check("lifecycle: resolved -> open (reopen) allowed", r.status == 200
          and r.get("status") == "open", r)
    r = as_(sup, "PATCH", API + "/interactions/%d" % iid2, {"status": "new"})
    expect("lifecycle: open -> new -> 409", r, 409, "invalid_state")
    r = as_(sup, "PATCH", API + "/interactions/%d" % iid2, {"channel": "chat"})
    expect("lifecycle: channel is not patchable -> 400", r, 400, "invalid")


def t_versions_events_fields_tags():
    A = S.clients["A"]
    sup = S.u["supA"]
    r = must(as_(sup, "POST", API + "/interactions", {
        "client_id": A, "channel": "chat", "subject": "versions", "tags": ["x", "y"],
        "custom_fields": {"order": "A-1", "amount": 42, "gift": False}}), 201, "row")
    iid, path = r["id"], API + "/interactions/%d" % r["id"]
    v = r["version"]
    r = as_(sup, "PATCH", path, {"priority": "high", "version": v})
    check("version: patch at current version -> 200, version+1", r.status == 200
          and r.get("version") == v + 1 and r.get("priority") == "high", r)
    n_events = len(as_(sup, "GET", path + "/events").get("items", []))
    r = as_(sup, "PATCH", path, {"priority": "low", "version": v})
    expect("version: stale version -> 409", r, 409, "conflict")
    r = as_(sup, "GET", path)
    check("version: stale write changed nothing", r.get("priority") == "high"
          and r.get("version") == v + 1, r)
    ev = as_(sup, "GET", path + "/events")
    check("events: stale write logged nothing", len(ev.get("items", [])) == n_events, ev)
    items = ev.get("items", [])
    check("events: newest first", [e["id"] for e in items] == sorted(
        [e["id"] for e in items], reverse=True), items)
    upd = [e for e in items if e.get("kind") == "updated"]
    check("events: update records before/after and actor", upd and upd[0].get(
        "before_json") == {"priority": "normal"} and upd[0].get("after_json") == {
        "priority": "high"} and upd[0].get("actor_id") == sup.id and upd[0].get("at"), upd)
    r = as_(sup, "POST", path + "/messages", {"direction": "outbound", "body": "evented"})
    ev2 = as_(sup, "GET", path + "/events", query={"limit": 1}).get("items") or [{}]
    check("events: a message adds a message event", r.status == 201 and ev2[0].get(
        "kind") == "message" and ev2[0].get("after_json", {}).get("message_id") == r.get("id")
        and ev2[0].get("actor_id") == sup.id, ev2)
    check("events: a message does not bump the version",
          as_(sup, "GET", path).get("version") == v + 1)
    created = [e for e in items if e.get("kind") == "created"]
    check("events: creation recorded with actor", created and created[0].get(
        "actor_id") == sup.id and created[0].get("after_json", {}).get("subject") == "versions",
        created)
    r = as_(sup, "PATCH", path, {"priority": "high"})
    check("version: no-op patch keeps version", r.status == 200 and r.get("version") == v + 1, r)
    # Concurrent writers holding the same version: exactly one wins.
    cur = as_(sup, "GET", path).get("version")
    n_events = len(as_(sup, "GET", path + "/events", query={"limit": 200}).get("items", []))
    barrier = threading.Barrier(8)
    subjects = ["racer %d" % k for k in range(8)]

    def racer(k):
        def go():
            conn = http.client.HTTPConnection(HOST, PORT, timeout=60)
            try:
                conn.connect()
                barrier.wait()
                conn.request("PATCH", path, body=json.dumps(
                    {"subject": subjects[k], "version": cur}).encode(), headers={
                    "Authorization": "Bearer " + sup.token, "Content-Type": "application/json"})
                r = conn.getresponse()
                return Resp(r.status, r.getheaders(), r.read())
            except (OSError, http.client.HTTPException) as e:
                return Resp(0, [], repr(e).encode())
            finally:
                conn.close()
        return go

    res = parallel([racer(k) for k in range(8)])
    wins = [r for r in res if r.status == 200]
    check("version: 8 concurrent patches at one version -> one 200, seven 409",
          len(wins) == 1 and all(r.status == 409 and r.code == "conflict"
                                 for r in res if r.status != 200),
          [(r.status, r.code) for r in res])
    g = as_(sup, "GET", path)
    check("version: the winner's change is the one stored, version+1", wins and g.get(
        "subject") == wins[0].get("subject") and g.get("version") == cur + 1, g)
    n2 = len(as_(sup, "GET", path + "/events", query={"limit": 200}).get("items", []))
    check("version: exactly one event for the concurrent patches", n2 == n_events + 1,
          "%d -> %d" % (n_events, n2))

    r = as_(sup, "PATCH", path, {"custom_fields": {"amount": None, "note": "x"}})
    check("custom_fields: merge, null removes", r.status == 200 and r.get("custom_fields") == {
        "order": "A-1", "gift": False, "note": "x"}, r)
    r = as_(sup, "PATCH", path, {"custom_fields": {"nested": {"a": 1}}})
    expect("custom_fields: nested object value -> 400", r, 400, "invalid")
    r = as_(sup, "PATCH", path, {"tags": ["z", "w", "z"]})
    check("tags: replaced (duplicates dropped)", r.status == 200 and r.get("tags") == ["z", "w"],
          r)
    lx = admin("GET", API + "/interactions", query={"client_id": A, "tag": "x"})
    lz = admin("GET", API + "/interactions", query={"client_id": A, "tag": "z"})
    check("tags: tag filter follows the replacement",
          iid not in [i["id"] for i in lx.get("items", [])]
          and iid in [i["id"] for i in lz.get("items", [])], (lx, lz))
    r = as_(sup, "PATCH", path, {"tags": [""]})
    expect("tags: empty tag -> 400", r, 400, "invalid")
    r = as_(sup, "PATCH", path, {"assignee_id": S.u["agentA"].id})
    check("assignee: set to an agent serving the client", r.status == 200
          and r.get("assignee_id") == S.u["agentA"].id, r)
    r = as_(sup, "PATCH", path, {"assignee_id": S.agentF.id})
    expect("assignee: agent not serving the client -> 422", r, 422, "invalid")
    r = as_(sup, "PATCH", path, {"assignee_id": None})
    check("assignee: null unassigns", r.status == 200 and r.get("assignee_id") is None, r)
    ev = as_(sup, "GET", path + "/events", query={"limit": 2})
    check("events: paging", ev.status == 200 and len(ev.get("items", [])) == 2
          and ev.get("next_cursor"), ev)


def count_in_queue(queue, client):
    r = admin("GET", API + "/interactions", query={"client_id": client, "queue": queue})
    return len(r.get("items", [])) if r.status == 200 else -1


def t_idempotency():
    A = S.clients["A"]
    ag = S.u["agentA"]
    queue = "idem-%s" % rand()
    key = "key-%s" % rand()
    body = {"client_id": A, "channel": "email", "subject": "idem", "queue": queue,
            "message": {"direction": "inbound", "body": "once"}}
    r1 = as_(ag, "POST", API + "/interactions", body, headers={"Idempotency-Key": key})
    r2 = as_(ag, "POST", API + "/interactions", body, headers={"Idempotency-Key": key})
    check("idempotency: first call 201", r1.status == 201, r1)
    check("idempotency: retry gets the same status and body", r2.status == r1.status
          and r2.json == r1.json, (r1, r2))
    check("idempotency: retry marked Idempotent-Replayed: true",
          (r2.header("Idempotent-Replayed") or "").lower() == "true"
          and r1.header("Idempotent-Replayed") is None, r2.headers)
    check("idempotency: only one created", count_in_queue(queue, A) == 1)
    r = as_(ag, "GET", API + "/interactions/%d/messages" % (r1.get("id") or MISSING))
    check("idempotency: only one first message", len(r.get("items", [])) == 1, r)
    r3 = as_(S.u["supA"], "POST", API + "/interactions", body, headers={"Idempotency-Key": key})
    check("idempotency: keys are per user (another user's same key creates)",
          r3.status == 201 and r3.get("id") != r1.get("id"), r3)
    r = as_(ag, "POST", API + "/customers", {"client_id": A, "name": "idem other path"},
            headers={"Idempotency-Key": key})
    expect("idempotency: key reused for another request -> 422", r, 422, "invalid")
    r = as_(ag, "POST", API + "/interactions", body, headers={"Idempotency-Key": "k" * 201})
    expect("idempotency: key over 200 bytes -> 400", r, 400, "invalid")
    key = "fail-first-%s" % rand()
    q2 = "idem-retry-%s" % rand()
    r = as_(ag, "POST", API + "/interactions", dict(body, queue=q2, assignee_id=S.agentF.id),
            headers={"Idempotency-Key": key})
    expect("idempotency: a failing first attempt -> 422", r, 422, "invalid")
    r = as_(ag, "POST", API + "/interactions", dict(body, queue=q2),
            headers={"Idempotency-Key": key})
    check("idempotency: a failure is not stored; the corrected retry creates (201)",
          r.status == 201 and r.header("Idempotent-Replayed") is None
          and count_in_queue(q2, A) == 1, r)

    # 8 threads, each with its connection open before a barrier releases
    # them together; several rounds to make the race likely.
    data = json.dumps(body).encode()
    for rnd in range(3):
        queue = "idem-conc-%s" % rand()
        key = "conc-%s" % rand()
        data = json.dumps(dict(body, queue=queue)).encode()
        barrier = threading.Barrier(8)

        def one():
            conn = http.client.HTTPConnection(HOST, PORT, timeout=60)
            try:
                conn.connect()
                barrier.wait()
                conn.request("POST", API + "/interactions", body=data, headers={
                    "Authorization": "Bearer " + ag.token, "Content-Type": "application/json",
                    "Idempotency-Key": key})
                r = conn.getresponse()
                return Resp(r.status, r.getheaders(), r.read())
            except (OSError, http.client.HTTPException) as e:
                return Resp(0, [], repr(e).encode())
            finally:
                conn.close()

        res = parallel([one] * 8)
        n = count_in_queue(queue, A)
        check("idempotency: 8 concurrent same-key requests create exactly one (round %d)"
              % (rnd + 1), n == 1, "%d created" % n)
        ids = {r.get("id") for r in res if r.status == 201}
        check("idempotency: every concurrent request answered 201 with the same id (round %d)"
              % (rnd + 1), all(r.status == 201 for r in res) and len(ids) == 1,
              [(r.status, r.get("id"), r.code) for r in res])
        check("idempotency: all but one concurrent answer marked replayed (round %d)"
              % (rnd + 1), sum(1 for r in res if r.header("Idempotent-Replayed") == "true") == 7,
              [r.header("Idempotent-Replayed") for r in res])


def t_sessions():
    A = S.clients["A"]
    u = S.u["agentA"]
    sc = u.set_cookie or ""
    parts = [p.strip().lower() for p in sc.split(";")]
    check("cookie: session cookie is HttpOnly", "httponly" in parts, sc)
    check("cookie: session cookie is SameSite=Strict", "samesite=strict" in parts, sc)
    check("cookie: session cookie has Path=/", "path=/" in parts, sc)
    body = {"client_id": A, "channel": "web", "subject": "csrf"}
    r = call("GET", API + "/interactions", cookie=u.cookie, query={"limit": 1})
    expect("csrf: cookie GET without X-CSRF-Token -> 200", r, 200)
    r = call("GET", API + "/auth/me", cookie=u.cookie)
    check("csrf: /auth/me over the cookie returns the session's csrf_token",
          r.status == 200 and r.get("csrf_token") == u.csrf, r)
    r = call("POST", API + "/interactions", body, cookie=u.cookie)
    expect("csrf: cookie POST without X-CSRF-Token -> 403", r, 403, "forbidden")
    r = call("POST", API + "/interactions", body, cookie=u.cookie, csrf="wrong-" + u.csrf[:10])
    expect("csrf: cookie POST with a wrong X-CSRF-Token -> 403", r, 403, "forbidden")
    r = call("PATCH", API + "/interactions/%d" % S.intA, {"priority": "low"}, cookie=u.cookie)
    expect("csrf: cookie PATCH without X-CSRF-Token -> 403", r, 403, "forbidden")
    r = call("POST", API + "/interactions", body, cookie=u.cookie, csrf=u.csrf)
    expect("csrf: cookie POST with X-CSRF-Token -> 201", r, 201)
    r = call("POST", API + "/auth/logout", cookie=u.cookie)
    expect("logout: without X-CSRF-Token -> 403", r, 403, "forbidden")
    r = call("POST", API + "/auth/logout", cookie=u.cookie, csrf=u.csrf)
    expect("logout: -> 204", r, 204)
    clear = r.header("Set-Cookie") or ""
    check("logout: clears the cookie", "cd_session=;" in clear.replace(" ", "")
          or "max-age=0" in clear.lower(), clear)
    r = call("GET", API + "/auth/me", cookie=u.cookie)
    expect("logout: old session cookie -> 401", r, 401, "unauthorized")
    r = as_(u, "GET", API + "/auth/me")
    expect("logout: the user's API token still works", r, 200)

    r = as_(u, "POST", API + "/tokens", {"name": "temporary"})
    tok, tid = r.get("token"), r.get("id")
    check("tokens: create shows the token once", r.status == 201 and tok and tid, r)
    r = call("GET", API + "/auth/me", token=tok)
    expect("tokens: new token works", r, 200)
    r = as_(u, "GET", API + "/tokens")
    listed = [t for t in r.get("items", []) if t.get("id") == tid]
    check("tokens: list shows it without the secret", listed and "token" not in listed[0]
          and "token_hash" not in listed[0], r)
    r = as_(u, "DELETE", API + "/tokens/%d" % (tid or MISSING))
    expect("tokens: revoke -> 204", r, 204)
    r = call("GET", API + "/auth/me", token=tok)
    expect("tokens: revoked token -> 401", r, 401, "unauthorized")
    check("tokens: 401 carries WWW-Authenticate", r.header("WWW-Authenticate"), r.headers)
    r = as_(u, "DELETE", API + "/tokens/%d" % (tid or MISSING))
    expect("tokens: revoke twice -> 404", r, 404, "not_found")
    r = as_(S.u["supA"], "DELETE", API + "/tokens/%d" % u.token_id)
    expect("tokens: another user's token -> 404", r, 404, "not_found")
    expect("tokens: ...and it still works", as_(u, "GET", API + "/auth/me"), 200)
    r = call("GET", API + "/auth/me")
    expect("auth: no credentials -> 401", r, 401, "unauthorized")
    r = call("GET", API + "/auth/me", token="cdt_not-a-real-token")
    expect("auth: unknown token -> 401", r, 401, "unauthorized")
    r = call("GET", API + "/auth/me", cookie="not-a-session")
    expect("auth: unknown session cookie -> 401", r, 401, "unauthorized")
    r, _, _ = login(S.u["supA"].email, "wrong password!")
    expect("login: wrong password -> 401", r, 401, "unauthorized")
    check("login: a failed login sets no cookie", not any(
        "cd_session=" in v and "cd_session=;" not in v for v in r.headers_all("Set-Cookie")),
        r.headers)
    r = admin("PATCH", API + "/users/%d" % S.u["wfmA"].id, {"active": False})
    check("users: deactivate", r.status == 200 and r.get("active") is False, r)
    r = as_(S.u["wfmA"], "GET", API + "/auth/me")
    expect("users: a deactivated user's token -> 401", r, 401, "unauthorized")
    r = call("GET", API + "/auth/me", cookie=S.u["wfmA"].cookie)
    expect("users: a deactivated user's session -> 401", r, 401, "unauthorized")
    admin("PATCH", API + "/users/%d" % S.u["wfmA"].id, {"active": True})


def t_roles():
    A = S.clients["A"]
    body = {"client_id": A, "channel": "web", "subject": "role test"}
    cv, qa, wfm, ag, sup = (S.u[k] for k in ["cvA", "qaA", "wfmA", "agentA", "supA"])
    expect("roles: client_viewer POST /interactions -> 403",
           as_(cv, "POST", API + "/interactions", body), 403, "forbidden")
    expect("roles: client_viewer GET /interactions -> 200",
           as_(cv, "GET", API + "/interactions"), 200)
    expect("roles: client_viewer GET /customers -> 403",
           as_(cv, "GET", API + "/customers"), 403, "forbidden")
    expect("roles: client_viewer GET /users -> 403", as_(cv, "GET", API + "/users"), 403,
           "forbidden")
    expect("roles: qa POST /interactions -> 403", as_(qa, "POST", API + "/interactions", body),
           403, "forbidden")
    expect("roles: qa PATCH /interactions -> 403",
           as_(qa, "PATCH", API + "/interactions/%d" % S.intA, {"priority": "low"}), 403,
           "forbidden")
    expect("roles: qa POST message -> 403",
           as_(qa, "POST", API + "/interactions/%d/messages" % S.intA,
               {"direction": "note", "body": "qa"}), 403, "forbidden")
    expect("roles: qa POST /customers -> 403",
           as_(qa, "POST", API + "/customers", {"client_id": A}), 403, "forbidden")
    expect("roles: qa GET events -> 200",
           as_(qa, "GET", API + "/interactions/%d/events" % S.intA), 200)
    expect("roles: qa GET customer -> 200", as_(qa, "GET", API + "/customers/%d" % S.custA), 200)
    expect("roles: wfm GET /customers -> 403", as_(wfm, "GET", API + "/customers"), 403,
           "forbidden")
    expect("roles: wfm GET events -> 403",
           as_(wfm, "GET", API + "/interactions/%d/events" % S.intA), 403, "forbidden")
    expect("roles: agent POST /clients -> 403",
           as_(ag, "POST", API + "/clients", {"slug": "x-%s" % rand(), "name": "X"}), 403,
           "forbidden")
    expect("roles: agent POST /users -> 403",
           as_(ag, "POST", API + "/users", {"email": "e%s@example.test" % rand(), "name": "E",
                                            "role": "admin"}), 403, "forbidden")
    expect("roles: agent cannot make itself admin -> 403",
           as_(ag, "PATCH", API + "/users/%d" % ag.id, {"role": "admin"}), 403, "forbidden")
    check("roles: agent still an agent", admin("GET", API + "/users/%d" % ag.id).get(
        "role") == "agent")
    expect("roles: supervisor GET /audit -> 403", as_(sup, "GET", API + "/audit"), 403,
           "forbidden")
    expect("roles: supervisor PATCH a client -> 403",
           as_(sup, "PATCH", API + "/clients/%d" % A, {"name": "mine"}), 403, "forbidden")
    expect("roles: supervisor PUT membership for itself -> 403",
           as_(sup, "PUT", API + "/users/%d/clients/%d" % (sup.id, S.clients["B"])), 403,
           "forbidden")
    expect("roles: agent sees a colleague of its client",
           as_(ag, "GET", API + "/users/%d" % S.u["supA"].id), 200)


def t_throttle_account():
    u = S.throttle_user
    codes = []
    for _ in range(5):
        r, _, _ = login(u.email, "definitely wrong")
        codes.append(r.status)
    check("throttle: 5 wrong passwords -> 401 each", codes == [401] * 5, codes)
    r, cookie, _ = login(u.email, u.password)
    expect("throttle: 6th attempt (even with the right password) -> 429", r, 429,
           "rate_limited")
    check("throttle: no session when throttled", cookie is None, r.headers)
    r, cookie, _ = login(u.email.upper(), u.password)
    expect("throttle: the same account in other letter case -> 429", r, 429, "rate_limited")


def audit_top():
    r = admin("GET", API + "/audit", query={"limit": 1})
    items = r.get("items") or []
    return items[0] if items else {"seq": 0}


def t_audit():
    before = audit_top()["seq"]
    r = as_(S.u["supA"], "GET", API + "/customers/%d" % S.custA)
    expect("audit: read a customer", r, 200)
    top = audit_top()
    check("audit: reading a customer adds one entry", top.get("seq") == before + 1, top)
    check("audit: entry names action, entity, id, actor and client",
          top.get("action") == "read" and top.get("entity") == "customer"
          and top.get("entity_id") == S.custA and top.get("actor_id") == S.u["supA"].id
          and top.get("client_id") == S.clients["A"], top)
    before = top.get("seq", 0)
    as_(S.u["supA"], "GET", API + "/customers/%d/history" % S.custA)
    as_(S.u["supA"], "GET", API + "/customers", query={"client_id": S.clients["A"]})
    check("audit: history and list reads are audited too", audit_top().get("seq") == before + 2)
    before = audit_top().get("seq")
    as_(S.u["supA"], "GET", API + "/customers/%d" % MISSING)
    as_(S.u["supA"], "GET", API + "/interactions/%d" % S.intA)
    check("audit: failed reads and interaction reads add nothing",
          audit_top().get("seq") == before)
    r = admin("GET", API + "/audit", query={"limit": 5})
    items = r.get("items", [])
    check("audit: list newest first and chained", r.status == 200 and len(items) == 5 and all(
        items[i]["prev_hash"] == items[i + 1]["hash"] and items[i]["seq"] == items[i + 1]["seq"] + 1
        for i in range(4)), r)
    r = admin("GET", API + "/audit", query={"client_id": S.clients["B"], "limit": 200})
    check("audit: client_id filter", r.status == 200 and r.get("items") and all(
        i["client_id"] == S.clients["B"] for i in r.get("items", [])), r)
    verify_audit_cli("audit: `caredesk audit verify` reports intact")


def verify_audit_cli(name):
    if not BIN or not DB:
        check(name, False, "CAREDESK_BIN/CAREDESK_DB not set")
        return
    p = subprocess.run([BIN, "audit", "verify", "--db", DB], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    check(name, p.returncode == 0 and "intact" in p.stdout, "exit %d: %s" % (
        p.returncode, p.stdout.strip()))


def parse_routes_c():
    """(METHOD, pattern) of every route in src/server/routes.c."""
    text = open(os.path.join(SRC, "src/server/routes.c")).read()
    table = text[text.index("const route routes[]"):]
    table = table[:table.index("};")]
    prefix = re.search(r'#define P "([^"]*)"', text).group(1)
    out = set()
    for m in re.finditer(r'\{\s*"(GET|POST|PUT|PATCH|DELETE|HEAD)",\s*(P\s+)?"([^"]*)"', table):
        out.add((m.group(1), (prefix if m.group(2) else "") + m.group(3)))
    return out


def parse_perm_c():
    """{action: {role: allowed}} from src/server/perm.c."""
    text = open(os.path.join(SRC, "src/server/perm.c")).read()
    out = {}
    for m in re.finditer(r'\{\s*"([a-z_.]+)",\s*\{([01,\s]+)\}\s*\}', text):
        vals = [int(x) for x in m.group(2).replace(" ", "").split(",") if x]
        out[m.group(1)] = dict(zip(ROLES, [bool(v) for v in vals]))
    return out


def t_meta():
    r = call("GET", "/healthz")
    check("healthz: 200 ok", r.status == 200 and r.get("status") == "ok"
          and r.get("store") in ("sqlite", "postgresql"), r)
    check("healthz: names the store under test", r.get("store") == {
        "sqlite": "sqlite", "pg": "postgresql"}.get(STORE), r)
    r = call("GET", "/metrics")
    text = r.body.decode("utf-8", "replace")
    check("metrics: caredesk_http_requests_total present", r.status == 200
          and "caredesk_http_requests_total" in text, text[:200])
    check("metrics: route labels use route patterns", re.search(
        r'caredesk_http_requests_total\{[^}]*route="/api/v1/interactions/\{interaction_id\}"',
        text) and re.search(
        r'caredesk_http_requests_total\{[^}]*route="/api/v1/interactions"[^}]*\} [1-9]', text),
        text[:600])
    check("metrics: no raw ids in route labels", not re.search(
        r'route="/api/v1/[a-z/]*/\d', text))
    r = call("GET", API + "/no-such-thing", token=ADMIN)
    check("unknown /api/v1 path -> 404 with the JSON error shape",
          r.status == 404 and r.code == "not_found" and set(r.error or {}) == {
              "code", "message", "field"}, r)
    r = call("GET", API + "/interactions/abc", token=ADMIN)
    expect("non-numeric id -> 404", r, 404, "not_found")
    r = call("GET", API + "/interactions/0", token=ADMIN)
    expect("id 0 -> 404", r, 404, "not_found")
    r = call("DELETE", API + "/interactions", token=ADMIN)
    check("wrong method -> 405 with the JSON error shape",
          r.status == 405 and set(r.error or {}) == {"code", "message", "field"}, r)
    r = call("PUT", API + "/clients/%d" % S.clients["A"], {"name": "x"}, token=ADMIN)
    expect("wrong method on an item -> 405", r, 405)
    r = call("GET", API + "/interactions", token=ADMIN)
    check("API answers carry nosniff and no-store", r.header("X-Content-Type-Options") == "nosniff"
          and r.header("Cache-Control") == "no-store" and "application/json" in (
              r.header("Content-Type") or ""), r.headers)


# --------------------------------------------------------------------------
# 5. hostile strings

HOSTILE = [
    "'; DROP TABLE interactions; --",
    "\" OR \"1\"=\"1",
    "x' OR '1'='1",
    "Robert'); DELETE FROM customers WHERE ('1'='1",
    "1; SELECT pg_sleep(5); --",
    "<script>alert(document.cookie)</script>",
    "<img src=x onerror=\"alert(1)\">",
    "</textarea><svg/onload=alert(1)>",
    "{{7*7}} ${7*7} %s%n%x",
    "back\\slash \\u0041 \\\" quote",
    "ünïcödé ✓ 😀 עברית مرحبا \u202e\u200b",
    "line1\nline2\r\n\ttab",
    "--",
    "?",
    "$1",
]


def cut(v, n):
    """v truncated to at most n UTF-8 bytes, on a character boundary."""
    b = v.encode("utf-8")[:n]
    return b.decode("utf-8", "ignore")


def t_hostile():
    H = S.clients["H"]
    created = []
    for i, v in enumerate(HOSTILE):
        tag = cut(v, 64)
        body = {"client_id": H, "channel": "email", "subject": v, "queue": cut(v, 100),
                "category": cut(v, 100), "tags": [tag], "custom_fields": {"f": v},
                "customer": {"name": v, "identities": [
                    {"kind": "chat", "value": "chat-%d-%s-%s" % (i, rand(), v[:200])}]},
                "message": {"direction": "inbound", "body": v}}
        r = admin("POST", API + "/interactions", body)
        if not check("hostile #%d: stored (201)" % i, r.status == 201, r):
            continue
        created.append((v, tag, r.json))
        g = admin("GET", API + "/interactions/%d" % r.json["id"])
        same = (g.get("subject") == v and g.get("queue") == cut(v, 100)
                and g.get("category") == cut(v, 100) and g.get("tags") == [tag]
                and g.get("custom_fields") == {"f": v})
        check("hostile #%d: fields returned verbatim" % i, same and g.get(
            "subject", "").encode("utf-8") == v.encode("utf-8"), g)
        m = admin("GET", API + "/interactions/%d/messages" % r.json["id"])
        check("hostile #%d: message body verbatim" % i, [x["body"] for x in m.get(
            "items", [])] == [v], m)
        c = admin("GET", API + "/customers/%d" % (r.json.get("customer_id") or MISSING))
        check("hostile #%d: customer name verbatim" % i, c.get("name") == v, c)
    # Filters with hostile values match exactly, never everything.
    for v, tag, _ in created:
        r = admin("GET", API + "/interactions", query={"client_id": H, "queue": cut(v, 100)})
        ids = [i["id"] for i in r.get("items", [])]
        want = [x[2]["id"] for x in created if cut(x[0], 100) == cut(v, 100)]
        check("hostile: queue filter %r matches exactly" % v[:30], r.status == 200
              and sorted(ids) == sorted(want), r)
        r = admin("GET", API + "/interactions", query={"client_id": H, "tag": tag})
        want = [x[2]["id"] for x in created if x[1] == tag]
        check("hostile: tag filter %r matches exactly" % tag[:30], r.status == 200
              and sorted(i["id"] for i in r.get("items", [])) == sorted(want), r)
    r = admin("GET", API + "/interactions", query={"client_id": H, "queue": "' OR 1=1 --"})
    check("hostile: injection in a filter matches nothing", r.status == 200
          and r.get("items") == [], r)
    r = admin("GET", API + "/customers", query={"identity_kind": "email",
                                                 "identity": "x' OR '1'='1@example.test"})
    check("hostile: injection in identity lookup matches nothing", r.status == 200
          and r.get("items") == [], r)
    # Responses are JSON, never HTML.
    r = admin("GET", API + "/interactions", query={"client_id": H})
    check("hostile: lists still work and are JSON", r.status == 200 and len(
        r.get("items", [])) == len(created) and "application/json" in (
        r.header("Content-Type") or ""), r)
    check("hostile: script text is JSON-escaped in context, never raw HTML response",
          (r.header("Content-Type") or "").startswith("application/json")
          and r.header("X-Content-Type-Options") == "nosniff", r.headers)
    # Long query values.
    r = admin("GET", API + "/interactions", query={"tag": "t" * 65})
    expect("long query: tag over 64 bytes -> 413", r, 413, "too_large")
    r = admin("GET", API + "/interactions", query={"queue": "q" * 5000})
    expect("long query: 5000-byte queue -> 413", r, 413, "too_large")
    r = admin("GET", API + "/interactions", query={"cursor": "9" * 3000})
    expect("long query: 3000-byte cursor -> 413", r, 413, "too_large")
    r = admin("GET", API + "/customers", query={"identity_kind": "email",
                                                 "identity": "a@" + "b" * 400})
    expect("long query: identity over 320 bytes -> 413", r, 413, "too_large")
    r = raw_http("GET", API + "/interactions?queue=" + "q" * 200000, token=ADMIN)
    check("long query: 200 KB URL refused with 414", r.status == 414, r)
    r = admin("GET", API + "/interactions", query={"updated_since": "9" * 40})
    check("long query: 40-digit integer -> 400", r.status == 400 and r.code == "invalid", r)
    r = admin("GET", API + "/interactions?client_id=%d&queue=bad%%FF%%FE" % H)
    check("hostile query: invalid UTF-8 in a filter value -> 400 (not ignored)",
          r.status == 400 and r.code == "invalid", r)
    expect("server still healthy after long URLs", call("GET", "/healthz"), 200)
    # Path traversal on static files.
    expect("static: / serves the UI", raw_http("GET", "/"), 200)
    for p in ["/../etc/passwd", "/../../../../etc/passwd", "/%2e%2e/etc/passwd",
              "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd",
              "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/static/../../../etc/passwd",
              "/index.html/../../../etc/passwd", "//etc/passwd", "/%2F%2Fetc%2Fpasswd",
              "/..\\..\\..\\etc\\passwd", "/%5c..%5c..%5cetc%5cpasswd", "/....//....//etc/passwd",
              "/%252e%252e/etc/passwd", "/.%2e/.%2e/etc/passwd", "/etc/passwd",
              "/api/v1/../../etc/passwd", "/.git/config", "/../src/server/routes.c",
              "/%2e%2e/CMakeLists.txt", "/%2e%2e%2fCMakeLists.txt", "/..%2fsrc%2fmain.c"]:
        r = raw_http("GET", p)
        check("static: traversal %s -> 404, no file contents" % p, r.status == 404
              and b"root:" not in r.body and b"cmake_minimum_required" not in r.body
              and b"#include" not in r.body, r)
    r = raw_http("POST", "/index.html", b"{}")
    expect("static: POST to a static file -> 405", r, 405)
    # The body limit is 1 MiB: exactly 1 MiB is accepted, one byte more is not.
    base = json.dumps({"client_id": H, "channel": "web", "subject": "exactly 1 MiB"}).encode()
    limit = 1024 * 1024
    r = raw_http("POST", API + "/interactions", base + b" " * (limit - len(base)), token=ADMIN)
    expect("body limit: a body of exactly 1 MiB is accepted -> 201", r, 201)
    r = raw_http("POST", API + "/interactions", base + b" " * (limit + 1 - len(base)),
                 token=ADMIN)
    expect("body limit: 1 MiB + 1 byte -> 413", r, 413, "too_large")
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in [base[:-1]] + [
        b" " * 65536] * 32 + [b"}"]) + b"0\r\n\r\n"
    r = raw_request(("POST %s/interactions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n" % (API, ADMIN)).encode() + chunks)
    expect("body limit: 2 MiB chunked body (no Content-Length) -> 413", r, 413, "too_large")
    expect("server still healthy after oversized bodies", call("GET", "/healthz"), 200)


# --------------------------------------------------------------------------
# 2. tenant isolation (generated from openapi.json)

def fill_sample(text, ids):
    for k in ["client", "customer", "interaction", "user", "workflow"]:
        text = text.replace("@%s@" % k, str(ids.get(k, MISSING)))
    while "@rand@" in text:
        text = text.replace("@rand@", rand(), 1)
    return text


def load_openapi():
    r = call("GET", API + "/openapi.json")
    check("openapi: GET /api/v1/openapi.json -> 200 JSON", r.status == 200 and isinstance(
        r.get("paths"), dict), r)
    h = call("GET", "/healthz")
    check("openapi: server still alive after serving openapi.json", h.status == 200,
          "GET /healthz afterwards: %r (the server died?)" % h)
    if r.status != 200 or not isinstance(r.get("paths"), dict):
        return None
    ops = []
    for path, item in r.json["paths"].items():
        for method, op in item.items():
            if method.lower() not in ("get", "post", "put", "patch", "delete"):
                continue
            ops.append((method.upper(), path, op))
    return r.json, ops


def path_params(path):
    return re.findall(r"\{([a-z_]+)\}", path)


def snapshot_b():
    """Everything of client B, as the admin sees it."""
    B = S.clients["B"]
    snap = {}
    snap["client"] = admin("GET", API + "/clients/%d" % B).json
    snap["interaction"] = admin("GET", API + "/interactions/%d" % S.intB).json
    snap["customer"] = admin("GET", API + "/customers/%d" % S.custB).json
    snap["messages"] = admin("GET", API + "/interactions/%d/messages" % S.intB,
                             query={"limit": 500}).json
    snap["events"] = admin("GET", API + "/interactions/%d/events" % S.intB,
                           query={"limit": 200}).json
    snap["interactions"] = walk(API + "/interactions", ADMIN, {"client_id": B})[0]
    snap["customers"] = walk(API + "/customers", ADMIN, {"client_id": B})[0]
    snap["users"] = sorted(json.dumps(u, sort_keys=True) for u in walk(
        API + "/users", ADMIN, {"client_id": B})[0])
    snap["supB"] = admin("GET", API + "/users/%d" % S.u["supB"].id).json
    snap["supB_tokens"] = as_(S.u["supB"], "GET", API + "/tokens").json
    snap["article"] = admin("GET", API + "/articles/%d" % S.artB).json
    snap["article_versions"] = admin("GET", API + "/articles/%d/versions" % S.artB).json
    snap["rule"] = admin("GET", API + "/rules/%d" % S.ruleB).json
    snap["policy"] = admin("GET", API + "/sla/policies/%d" % S.policyB).json
    return snap


def t_tenant(doc_ops):
    section("tenant isolation")
    _, ops = doc_ops
    perms = parse_perm_c()
    A, B = S.clients["A"], S.clients["B"]
    before = snapshot_b()
    check("tenant: B snapshot taken (every part read)", all(
        v and not (isinstance(v, dict) and "error" in v) for v in before.values())
        and len(before["messages"].get("items", [])) == 2
        and len(before["interactions"]) == 1, json.dumps(before)[:600])

    callers = [S.u["supA"], S.u["agentA"]]
    exercised = set()
    with_params = [(m, p, op) for m, p, op in ops if path_params(p)]
    check("tenant: the table has routes with path parameters", len(with_params) >= 10,
          len(with_params))

    def ids_for(caller, side):
        """Path parameter values: side 'A' (the caller's own), 'B', or 'missing'."""
        if side == "missing":
            return {k: MISSING for k in ["client_id", "customer_id", "interaction_id",
                                         "user_id", "token_id", "queue_id", "offer_id",
                                         "workflow_id", "session_id", "article_id",
                                         "rule_id", "policy_id"]}
        if side == "B":
            return {"client_id": B, "customer_id": S.custB, "interaction_id": S.intB,
                    "user_id": S.u["supB"].id, "token_id": S.u["supB"].token_id,
                    "queue_id": S.queueB, "offer_id": S.offerB, "workflow_id": S.wfB,
                    "session_id": S.sessB, "article_id": S.artB, "rule_id": S.ruleB,
                    "policy_id": S.policyB}
        return {"client_id": A, "customer_id": S.custA, "interaction_id": S.intA,
                "user_id": caller.id, "token_id": caller.token_id, "queue_id": S.queueA,
                "offer_id": S.offerA, "workflow_id": S.wfA, "session_id": S.sessA,
                "article_id": S.artA, "rule_id": S.ruleA, "policy_id": S.policyA}

    for method, path, op in with_params:
        params = path_params(path)
        unknown = [p for p in params if p not in ("client_id", "customer_id", "interaction_id",
                                                  "user_id", "token_id", "queue_id", "offer_id",
                                                  "workflow_id", "session_id", "article_id",
                                                  "rule_id", "policy_id")]
        if not check("tenant: %s %s has known path parameters" % (method, path), not unknown,
                     unknown):
            continue
        action = op.get("x-permission")
        sample = op.get("x-sample")
        # Variants: every parameter B's; for several parameters also each one
        # B's alone with the others the caller's own.
        variants = [tuple(params)]
        if len(params) > 1:
            variants += [(p,) for p in params]
        for caller in callers:
            allowed = bool(perms.get(action, {}).get(caller.role)) if action else True
            want = 404 if allowed else 403
            for bset in variants:
                own = ids_for(caller, "A")
                bv = dict(own, **{p: ids_for(caller, "B")[p] for p in bset})
                mv = dict(own, **{p: MISSING for p in bset})
                pb = path
                pm = path
                for p in params:
                    pb = pb.replace("{%s}" % p, str(bv[p]))
                    pm = pm.replace("{%s}" % p, str(mv[p]))
                body_ids = {"client": A, "customer": S.custA, "interaction": S.intA,
                            "workflow": S.wfA,
                            "user": caller.id}
                b1 = fill_sample(sample, body_ids) if sample else None
                b2 = fill_sample(sample, body_ids) if sample else None
                rb = as_(caller, method, pb, b1)
                rm = as_(caller, method, pm, b2)
                label = "tenant: %s %s as %s (%s=B)" % (method, path, caller.role,
                                                         ",".join(bset))
                check(label + " -> %d" % want, rb.status == want, "B: %r" % rb)
                check(label + " same status+code as a missing id",
                      (rb.status, rb.code) == (rm.status, rm.code) and rb.code is not None,
                      "B: %r / missing: %r" % (rb, rm))
                check(label + " same error body as a missing id", rb.error == rm.error,
                      "B: %r / missing: %r" % (rb, rm))
                exercised.add((method, path))

    # List routes with a client_id query parameter.
    for method, path, op in ops:
        if method != "GET" or path_params(path):
            continue
        if not any(p.get("in") == "query" and p.get("name") == "client_id"
                   for p in op.get("parameters", [])):
            continue
        action = op.get("x-permission")
        for caller in callers:
            allowed = bool(perms.get(action, {}).get(caller.role)) if action else True
            want = 404 if allowed else 403
            rb = as_(caller, "GET", path, query={"client_id": B})
            rm = as_(caller, "GET", path, query={"client_id": MISSING})
            label = "tenant: GET %s?client_id=B as %s" % (path, caller.role)
            check(label + " -> %d" % want, rb.status == want, rb)
            check(label + " same as a missing client", (rb.status, rb.code, rb.error) == (
                rm.status, rm.code, rm.error), (rb, rm))
            exercised.add(("GET?client_id", path))
    check("tenant: list routes with client_id were found", len(
        [e for e in exercised if e[0] == "GET?client_id"]) >= 3, exercised)

    # POST routes whose sample names a client.
    for method, path, op in ops:
        sample = op.get("x-sample") or ""
        if method != "POST" or path_params(path) or "@client@" not in sample:
            continue
        action = op.get("x-permission")
        for caller in callers:
            allowed = bool(perms.get(action, {}).get(caller.role)) if action else True
            want = 404 if allowed else 403
            rb = as_(caller, "POST", path, fill_sample(sample, {
                "client": B, "customer": S.custB, "interaction": S.intB, "user": S.u["supB"].id}))
            rm = as_(caller, "POST", path, fill_sample(sample, {
                "client": MISSING, "customer": MISSING, "interaction": MISSING,
                "user": MISSING}))
            label = "tenant: POST %s with client_id=B as %s" % (path, caller.role)
            check(label + " -> %d" % want, rb.status == want, rb)
            check(label + " same as a missing client", (rb.status, rb.code, rb.error) == (
                rm.status, rm.code, rm.error), (rb, rm))
            if "@customer@" in sample:
                rb = as_(caller, "POST", path, fill_sample(sample, {
                    "client": A, "customer": S.custB, "user": caller.id}))
                rm = as_(caller, "POST", path, fill_sample(sample, {
                    "client": A, "customer": MISSING, "user": caller.id}))
                label = "tenant: POST %s with A's client and B's customer as %s" % (
                    path, caller.role)
                check(label + " -> %d" % want, rb.status == want, rb)
                check(label + " same as a missing customer", (
                    rb.status, rb.code, rb.error) == (rm.status, rm.code, rm.error), (rb, rm))
    for caller in callers:
        body = {"client_id": A, "channel": "chat", "subject": "assign to B's agent",
                "assignee_id": S.u["agentB"].id}
        rb = as_(caller, "POST", API + "/interactions", body)
        rm = as_(caller, "POST", API + "/interactions", dict(body, assignee_id=MISSING))
        check("tenant: assignee from client B as %s answers like a missing user" % caller.role,
              rb.status in (404, 422) and (rb.status, rb.code, rb.error) == (
                  rm.status, rm.code, rm.error), (rb, rm))
        rb = as_(caller, "PATCH", API + "/interactions/%d" % S.intA,
                 {"assignee_id": S.u["agentB"].id})
        rm = as_(caller, "PATCH", API + "/interactions/%d" % S.intA, {"assignee_id": MISSING})
        check("tenant: PATCH assignee to B's agent as %s answers like a missing user"
              % caller.role, rb.status in (404, 422) and (rb.status, rb.code, rb.error) == (
                  rm.status, rm.code, rm.error), (rb, rm))
        rb = as_(caller, "POST", API + "/users", {"email": "x%s@example.test" % rand(),
                                                  "name": "X", "role": "agent", "clients": [B]})
        expect("tenant: POST /users for client B as %s -> 403" % caller.role, rb, 403,
               "forbidden")

    # Every route with a path parameter must have been exercised.
    missing = [(m, p) for m, p, _ in with_params if (m, p) not in exercised]
    check("tenant: every route with a path parameter was exercised", not missing, missing)
    route_table = {x for x in parse_routes_c() if "{" in x[1]}
    check("tenant: ...including every such route of src/server/routes.c",
          route_table <= exercised, sorted(route_table - exercised))

    # Nothing of B changed.
    after = snapshot_b()
    for k in before:
        a, b = before[k], after[k]
        check("tenant: B's %s unchanged" % k, a == b, "before %s / after %s" % (
            json.dumps(a)[:250], json.dumps(b)[:250]))
    expect("tenant: B's supervisor token still works",
           as_(S.u["supB"], "GET", API + "/auth/me"), 200)
    ab = S.u["agentAB"]
    expect("tenant: agent serving A and B reads B's interaction",
           as_(ab, "GET", API + "/interactions/%d" % S.intB), 200)
    expect("tenant: admin removes the agent from B",
           admin("DELETE", API + "/users/%d/clients/%d" % (ab.id, B)), 204)
    r = as_(ab, "GET", API + "/interactions/%d" % S.intB)
    expect("tenant: removal takes effect at once (same token) -> 404", r, 404, "not_found")
    r = as_(ab, "POST", API + "/interactions/%d/messages" % S.intB,
            {"direction": "note", "body": "after removal"})
    expect("tenant: removed agent cannot write to B -> 404", r, 404, "not_found")
    expect("tenant: admin adds the agent back to B",
           admin("PUT", API + "/users/%d/clients/%d" % (ab.id, B)), 204)
    expect("tenant: access back", as_(ab, "GET", API + "/interactions/%d" % S.intB), 200)
    r = as_(S.u["supA"], "GET", API + "/users/%d" % ab.id)
    check("tenant: a user's memberships show only the clients the caller serves",
          r.status == 200 and r.json["clients"] == [A], r)
    r = as_(ab, "GET", API + "/users/%d" % ab.id)
    check("tenant: ...and all of them to the user", r.status == 200 and
          sorted(r.json["clients"]) == sorted([A, B]), r)

    # A's lists never show B's rows.
    b_user_ids = {S.u["supB"].id, S.u["agentB"].id}
    for caller in callers + [S.u["qaA"], S.u["cvA"]]:
        role = caller.role
        items, _, err = walk(API + "/interactions", caller.token)
        check("tenant: %s's interaction list only holds client A" % role,
              err is None and items and all(i["client_id"] == A for i in items),
              err or [i["client_id"] for i in items if i["client_id"] != A][:5])
        check("tenant: %s's interaction list lacks B's interaction" % role,
              S.intB not in [i["id"] for i in items])
        r = as_(caller, "GET", API + "/clients")
        check("tenant: %s's client list is exactly [A]" % role, r.status == 200 and [
            c["id"] for c in r.get("items", [])] == [A], r)
        if perms.get("customer.read", {}).get(role):
            items, _, err = walk(API + "/customers", caller.token)
            check("tenant: %s's customer list only holds client A" % role,
                  err is None and items and all(c["client_id"] == A for c in items)
                  and S.custB not in [c["id"] for c in items], err)
            r = as_(caller, "GET", API + "/customers", query={"identity_kind": "phone",
                                                              "identity": S.custB_phone})
            check("tenant: %s's identity lookup of B's phone only finds A's customer" % role,
                  r.status == 200 and all(c["client_id"] == A for c in r.get("items", [])), r)
        if perms.get("user.read", {}).get(role):
            items, _, err = walk(API + "/users", caller.token)
            ids = {u["id"] for u in items}
            check("tenant: %s's user list lacks B-only users" % role,
                  err is None and not (ids & b_user_ids) and caller.id in ids
                  and S.u["agentAB"].id in ids, err or sorted(ids & b_user_ids))
        r = as_(caller, "GET", API + "/interactions", query={"tag": "b-only"})
        check("tenant: %s's tag filter does not reach B" % role, r.status == 200
              and r.get("items") == [], r)
        r = as_(caller, "GET", API + "/interactions", query={"customer_id": S.custB})
        check("tenant: %s's customer_id=B filter does not reach B" % role, r.status == 200
              and r.get("items") == [], r)
    # The agent serving both sees both; B's own supervisor sees B only.
    items, _, _ = walk(API + "/interactions", S.u["agentAB"].token)
    check("tenant: an agent serving A and B sees both", {A, B} <= {
        i["client_id"] for i in items})
    items, _, _ = walk(API + "/interactions", S.u["supB"].token)
    check("tenant: B's supervisor sees only B", items and all(
        i["client_id"] == B for i in items))


# --------------------------------------------------------------------------
# 3. malformed input (generated from openapi.json)

def store_snapshot():
    """Counts and key rows as the admin sees them. Returns (snap, audited
    calls made after reading the audit top)."""
    audited = 0
    snap = {"audit_top": audit_top().get("seq")}
    snap["clients"] = admin("GET", API + "/clients").json
    snap["users"] = walk(API + "/users", ADMIN)[0]
    cust, pages, _ = walk(API + "/customers", ADMIN)
    audited += pages
    snap["customers"] = len(cust)
    snap["interactions"] = len(walk(API + "/interactions", ADMIN)[0])
    snap["tokens"] = admin("GET", API + "/tokens").json
    snap["intA"] = admin("GET", API + "/interactions/%d" % S.intA).json
    snap["intA_messages"] = admin("GET", API + "/interactions/%d/messages" % S.intA,
                                  query={"limit": 500}).json
    snap["intA_events"] = admin("GET", API + "/interactions/%d/events" % S.intA,
                                query={"limit": 200}).json
    snap["custA"] = admin("GET", API + "/customers/%d" % S.custA).json
    audited += 1
    return snap, audited


def schema_of(op):
    try:
        return op["requestBody"]["content"]["application/json"]["schema"]
    except (KeyError, TypeError):
        return None


def wrong_values(prop):
    """Values of the wrong JSON type for a property schema."""
    t = prop.get("type")
    if t == "string":
        return [("integer where string", 12345), ("object where string", {"a": "b"}),
                ("array where string", ["x"]), ("boolean where string", True)]
    if t == "integer":
        return [("string where integer", "12"), ("float where integer", 1.5),
                ("boolean where integer", True), ("object where integer", {})]
    if t == "number":
        return [("string where number", "0.5"), ("boolean where number", True),
                ("array where number", [1])]
    if t == "boolean":
        return [("string where boolean", "true"), ("integer where boolean", 1)]
    if t == "array":
        return [("string where array", "x"), ("object where array", {})]
    if t == "object":
        return [("string where object", "x"), ("array where object", [])]
    return []


def with_marker(obj, marker, where=""):
    """A copy of obj with its first string leaf replaced by marker; (copy, path)."""
    if isinstance(obj, str):
        return marker, where or "(body)"
    if isinstance(obj, dict):
        out, found = {}, None
        for k, v in obj.items():
            if found is None:
                v, found = with_marker(v, marker, (where + "." if where else "") + k)
            out[k] = v
        return out, found
    if isinstance(obj, list):
        out, found = [], None
        for i, v in enumerate(obj):
            if found is None:
                v, found = with_marker(v, marker, "%s[%d]" % (where, i))
            out.append(v)
        return out, found
    return obj, None


def t_malformed(doc_ops):
    section("malformed input")
    _, ops = doc_ops
    A = S.clients["A"]
    ids = {"client": A, "customer": S.custA, "interaction": S.intA, "user": S.target.id,
           "workflow": S.wfA}
    path_ids = {"client_id": A, "customer_id": S.custA, "interaction_id": S.intA,
                "user_id": S.target.id, "token_id": MISSING, "queue_id": S.queueA,
                "offer_id": MISSING, "workflow_id": S.wfA, "session_id": S.sessA,
                "article_id": S.artA, "rule_id": S.ruleA, "policy_id": S.policyA}
    before, audited = store_snapshot()
    routes = [(m, p, op) for m, p, op in ops if op.get("x-sample")]
    check("malformed: write routes with a sample found", len(routes) >= 10, len(routes))
    covered = set()
    for method, path, op in routes:
        url = path
        for p in path_params(path):
            url = url.replace("{%s}" % p, str(path_ids[p]))
        schema = schema_of(op) or {}
        props = schema.get("properties", {})
        base = json.loads(fill_sample(op["x-sample"], ids))
        name = "%s %s" % (method, path)

        def send(label, body, want, code=None, raw=False):
            if raw:
                r = call(method, url, body=body, token=ADMIN)
            else:
                r = call(method, url, body=json.dumps(body), token=ADMIN)
            expect("malformed: %s: %s -> %d" % (name, label, want), r, want, code)
            covered.add((method, path))

        send("invalid JSON", b'{"a": ', 400, "invalid", raw=True)
        send("trailing garbage", json.dumps(base).encode() + b" x", 400, "invalid", raw=True)
        send("JSON array", [base], 400, "invalid")
        send("JSON null", b"null", 400, "invalid", raw=True)
        send("JSON string", b'"text"', 400, "invalid", raw=True)
        send("empty body", b"", 400, "invalid", raw=True)
        send("duplicate key", b"{" + json.dumps(base)[1:-1].encode() + b", " + json.dumps(
            base)[1:-1].encode() + b"}" if base else b'{"a":1,"a":1}', 400, "invalid", raw=True)
        for f in schema.get("required", []):
            send("missing required %s" % f, {k: v for k, v in base.items() if k != f}, 400,
                 "invalid")
        if not schema.get("required"):
            send("empty object (nothing to change)", {}, 400, "invalid")
        send("unknown field", dict(base, zz_unknown=1), 400, "invalid")
        for k, v in base.items():
            sub = props.get(k, {})
            if isinstance(v, dict) and sub.get("properties"):
                send("unknown field inside %s" % k, dict(base, **{k: dict(v, zz=1)}), 400,
                     "invalid")
                for f in sub.get("required", []):
                    send("missing required %s.%s" % (k, f),
                         dict(base, **{k: {x: y for x, y in v.items() if x != f}}), 400,
                         "invalid")
        for k in props:
            for label, wv in wrong_values(props[k]):
                send("%s: %s" % (k, label), dict(base, **{k: wv}), 400, "invalid")
        for k, v in base.items():
            sub = props.get(k, {})
            if isinstance(v, dict) and sub.get("properties"):
                for kk in sub["properties"]:
                    for label, wv in wrong_values(sub["properties"][kk])[:1]:
                        send("%s.%s: %s" % (k, kk, label), dict(base, **{k: dict(v, **{kk: wv})}),
                             400, "invalid")
        for k, prop in props.items():
            if prop.get("type") == "string" and "enum" not in prop and prop.get("maxLength"):
                send("%s over %d bytes" % (k, prop["maxLength"]),
                     dict(base, **{k: "x" * (prop["maxLength"] + 1)}), 413, "too_large")
            if prop.get("type") == "string" and "enum" in prop:
                send("%s not in its enum" % k, dict(base, **{k: "no-such-value"}), 400, "invalid")
        for k, v in base.items():
            sub = props.get(k, {})
            if isinstance(v, dict) and sub.get("properties"):
                for kk, pp in sub["properties"].items():
                    if pp.get("type") == "string" and "enum" not in pp and pp.get("maxLength"):
                        send("%s.%s over %d bytes" % (k, kk, pp["maxLength"]),
                             dict(base, **{k: dict(v, **{kk: "y" * (pp["maxLength"] + 1)})}),
                             413, "too_large")
        # A 2 MiB body (announced with Content-Length).
        big = json.dumps(dict(base, zz_pad="p" * (2 * 1024 * 1024))).encode()
        r = raw_http(method, url, big, token=ADMIN)
        expect("malformed: %s: 2 MiB body -> 413" % name, r, 413, "too_large")
        # Bad bytes inside the first string value of the sample.
        marker = "MARKER-%s" % rand()
        marked, skey = with_marker(base, marker)
        if skey:
            text = json.dumps(marked).encode()
            send("invalid UTF-8 in %s" % skey, text.replace(marker.encode(), b"ab\xff\xfecd"),
                 400, "invalid", raw=True)
            send("overlong UTF-8 in %s" % skey, text.replace(marker.encode(), b"\xc0\xaf"),
                 400, "invalid", raw=True)
            send("lone surrogate escape in %s" % skey, text.replace(
                marker.encode(), b"\\ud800x"), 400, "invalid", raw=True)
            send("NUL escape in %s" % skey, text.replace(marker.encode(), b"a\\u0000b"), 400,
                 "invalid", raw=True)
            send("raw control character in %s" % skey, text.replace(marker.encode(), b"a\x01b"),
                 400, "invalid", raw=True)

    # Store-level invalid values: well-formed, but refused by the store (422).
    B = S.clients["B"]
    cases = [
        ("POST", API + "/clients", {"slug": "Bad Slug!", "name": "X"}),
        ("POST", API + "/clients", {"slug": "ok-%s" % rand(), "name": ""}),
        ("PATCH", API + "/clients/%d" % A, {"name": ""}),
        ("PATCH", API + "/clients/%d" % A, {"slug": "new-slug-%s" % rand()}),
        ("POST", API + "/users", {"email": "no-at-sign", "name": "X", "role": "agent"}),
        ("POST", API + "/users", {"email": "x%s@example.test" % rand(), "name": "",
                                  "role": "agent"}),
        ("POST", API + "/users", {"email": "x%s@example.test" % rand(), "name": "X",
                                  "role": "agent", "password": "short"}),
        ("PATCH", API + "/users/%d" % S.target.id, {"password": "short"}),
        ("POST", API + "/customers/%d/identities" % S.custA, {"kind": "phone", "value": "12"}),
        ("POST", API + "/customers/%d/identities" % S.custA, {"kind": "email",
                                                              "value": "nobody"}),
        ("POST", API + "/customers", {"client_id": A, "identities": [
            {"kind": "email", "value": "   "}]}),
        ("POST", API + "/interactions", {"client_id": A, "channel": "email",
                                         "assignee_id": S.u["agentB"].id}),
        ("POST", API + "/interactions", {"client_id": A, "channel": "email",
                                         "message": {"direction": "inbound", "body": ""}}),
        ("POST", API + "/interactions/%d/messages" % S.intA, {"direction": "note", "body": ""}),
        ("PATCH", API + "/interactions/%d" % S.intA, {"assignee_id": S.agentF.id}),
    ]
    for method, url, body in cases:
        r = call(method, url, body, token=ADMIN)
        expect("invalid value: %s %s %s -> 422" % (method, url, json.dumps(body)[:70]), r, 422,
               "invalid")
    for method, url, body in [
            ("POST", API + "/interactions", {"client_id": B + 1000000, "channel": "email"}),
            ("POST", API + "/customers", {"client_id": B + 1000000, "name": "nobody's"}),
            ("POST", API + "/interactions", {"client_id": A, "channel": "email",
                                             "customer_id": MISSING}),
            ("POST", API + "/users", {"email": "x%s@example.test" % rand(), "name": "X",
                                      "role": "agent", "clients": [MISSING]})]:
        r = call(method, url, body, token=ADMIN)
        expect("invalid reference: %s %s -> 404" % (method, json.dumps(body)[:60]), r, 404,
               "not_found")
    r = call("POST", API + "/users", {"email": "x%s@example.test" % rand(), "name": "X",
                                      "role": "agent", "skills": [
                                          {"name": "a", "proficiency": 1},
                                          {"name": "a", "proficiency": 2}]}, token=ADMIN)
    expect("invalid value: duplicate skill -> 409", r, 409, "conflict")
    r = call("PUT", API + "/users/%d/skills" % S.target.id,
             {"skills": [{"name": "a", "proficiency": 6}]}, token=ADMIN)
    expect("malformed: proficiency out of range -> 400", r, 400, "invalid")
    r = call("POST", API + "/interactions", {"client_id": 0, "channel": "email"}, token=ADMIN)
    expect("malformed: client_id 0 -> 400", r, 400, "invalid")
    r = call("POST", API + "/interactions", {"client_id": A, "channel": "email",
                                             "tags": ["t"] * 33}, token=ADMIN)
    expect("malformed: 33 tags -> 413", r, 413, "too_large")
    r = call("POST", API + "/interactions", {"client_id": A, "channel": "email",
                                             "custom_fields": {"k%d" % i: i for i in range(65)}},
             token=ADMIN)
    expect("malformed: 65 custom fields -> 413", r, 413, "too_large")
    r = call("POST", API + "/interactions", {"client_id": 2 ** 63, "channel": "email"},
             token=ADMIN)
    expect("malformed: id beyond 64 bits -> 400", r, 400, "invalid")
    r = call("POST", API + "/auth/logout", b"{}", token=ADMIN)
    expect("malformed: body on a route that takes none -> 400", r, 400, "invalid")
    r = call("DELETE", API + "/tokens/%d" % MISSING, b'{"x":1}', token=ADMIN)
    expect("malformed: body on DELETE -> 400", r, 400, "invalid")
    r = call("POST", API + "/auth/login", b'{"email":"x@example.test","password":1}')
    expect("malformed: login with a non-string password -> 400", r, 400, "invalid")
    r = raw_http("POST", API + "/interactions", json.dumps({"client_id": A, "channel": "web"})
                 .encode(), token=ADMIN, extra=b"")
    check("malformed: control (a valid raw POST) -> 201", r.status == 201, r)
    expect("server still healthy after malformed input", call("GET", "/healthz"), 200)

    after, _ = store_snapshot()
    b, a = dict(before), dict(after)
    # The control POST above created exactly one interaction (and its audit).
    b_top, a_top = b.pop("audit_top"), a.pop("audit_top")
    check("malformed: audit log grew only by the snapshot's own reads and the control",
          a_top == b_top + audited + 1, "before %s + %d + 1, after %s" % (b_top, audited, a_top))
    check("malformed: interaction count grew only by the control",
          a.pop("interactions") == b.pop("interactions") + 1)
    for k in b:
        check("malformed: %s unchanged" % k, a[k] == b[k], "before %s / after %s" % (
            json.dumps(b[k])[:300], json.dumps(a[k])[:300]))
    missing = [(m, p) for m, p, _ in routes if (m, p) not in covered]
    check("malformed: every write route with a body was exercised", not missing, missing)


def t_route_table(doc_ops):
    _, ops = doc_ops
    documented = {(m, p) for m, p, _ in ops}
    table = parse_routes_c()
    check("openapi: routes.c parsed", len(table) >= 30, len(table))
    check("openapi: every route of src/server/routes.c is documented", table <= documented,
          sorted(table - documented))
    check("openapi: nothing documented that routes.c lacks", documented <= table,
          sorted(documented - table))
    perms = parse_perm_c()
    bad = [(m, p, op.get("x-permission")) for m, p, op in ops
           if op.get("x-permission") and op["x-permission"] not in perms]
    check("openapi: every x-permission exists in perm.c", not bad, bad)
    nosec = [(m, p) for m, p, op in ops if not op.get("x-permission")
             and op.get("security") != [] and not p.startswith(API + "/auth/")]
    check("openapi: routes without a permission are marked public", not nosec, nosec)
    for m, p, op in ops:
        if op.get("x-sample"):
            try:
                json.loads(fill_sample(op["x-sample"], {"client": 1, "customer": 1,
                                                         "interaction": 1, "user": 1}))
                ok = True
            except ValueError:
                ok = False
            check("openapi: %s %s x-sample is valid JSON" % (m, p), ok, op["x-sample"])
        if m in ("POST", "PUT", "PATCH") and schema_of(op) and not op.get("x-sample"):
            check("openapi: %s %s has a body schema but no x-sample" % (m, p),
                  p == API + "/auth/login")
    # Every sample works when sent as is (as the admin, on A's objects).
    A = S.clients["A"]
    ids = {"client": A, "customer": S.custA, "interaction": S.intA, "user": S.target.id,
           "workflow": S.wfA}
    for m, p, op in ops:
        if not op.get("x-sample"):
            continue
        url = p
        for k in path_params(p):
            url = url.replace("{%s}" % k, str({"client_id": A, "customer_id": S.custA,
                                               "interaction_id": S.intA, "queue_id": S.queueA,
                                               "workflow_id": S.wfA, "session_id": S.sessA,
                                               "user_id": S.target.id,
                                               "article_id": S.artA,
                                               "rule_id": S.ruleA,
                                               "policy_id": S.policyA}.get(k, MISSING)))
        r = call(m, url, fill_sample(op["x-sample"], ids), token=ADMIN)
        ok_status = [int(s) for s in op.get("responses", {}) if s.isdigit()]
        check("openapi: %s %s x-sample accepted (%s)" % (m, p, ok_status), r.status in ok_status,
              r)


# --------------------------------------------------------------------------
# throttle per address: LAST (it locks 127.0.0.1 out of logins)

def t_throttle_address():
    section("login throttling per address (last)")
    n = getattr(S, "address_failures", 0)
    fails = []
    # Up to 4 failures per fresh (nonexistent) account stay below the account limit.
    while n < 20:
        for _ in range(min(4, 20 - n)):
            r, _, _ = login("nobody-%s@example.test" % rand(), "wrong password")
            fails.append(r.status)
            n += 1
    check("throttle: failures up to the address limit answered 401", all(
        s == 401 for s in fails) and len(fails) >= 1, fails)
    r, _, _ = login("fresh-%s@example.test" % rand(), "wrong password")
    expect("throttle: 21st failure from one address, fresh account -> 429", r, 429,
           "rate_limited")
    u = S.u["supA"]
    r, _, _ = login(u.email, u.password)
    expect("throttle: even a right password from the throttled address -> 429", r, 429,
           "rate_limited")
    expect("throttle: API tokens keep working", as_(u, "GET", API + "/auth/me"), 200)


# --------------------------------------------------------------------------

def run(name, fn, *args):
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - a crash fails the section, not the suite
        check("%s completed without an exception" % name, False, traceback.format_exc())


def t_queues():
    """Queues: defaults, validation of routing settings, overflow within the
    client, agent state."""
    A, B = S.clients["A"], S.clients["B"]
    q = admin("GET", API + "/queues/%d" % S.queueA)
    check("queues: defaults filled in",
          q.status == 200 and q.json["priority"]["urgency"]["urgent"] == 600
          and q.json["strategy"] == ["match", "idle", "handled"] and q.json["overflow"] is None
          and q.json["offer_timeout_s"] == 20 and q.json["max_missed"] == 3, q)
    r = admin("PATCH", API + "/queues/%d" % S.queueA,
              {"priority": {"urgency": {"urgent": 900}, "aging_per_s": 2},
               "widening": [{"after_s": 30, "relax": 1}, {"after_s": 90, "keep": 0}],
               "strategy": ["idle", "match", "handled"]})
    check("queues: patch merges priority points and replaces widening and strategy",
          r.status == 200 and r.json["priority"]["urgency"]["urgent"] == 900
          and r.json["priority"]["urgency"]["high"] == 300 and r.json["priority"]["aging_per_s"] == 2
          and len(r.json["widening"]) == 2 and r.json["strategy"][0] == "idle", r)
    for body, why in [({"widening": [{"after_s": 60}, {"after_s": 30}]}, "decreasing steps"),
                      ({"strategy": ["match", "match", "idle"]}, "strategy repeats"),
                      ({"priority": {"urgency": {"critical": 5}}}, "unknown urgency"),
                      ({"priority": {"tier": {"premium": -1}}}, "negative points"),
                      ({"overflow": {"after_s": 60, "queue_id": S.queueA}}, "overflow to itself")]:
        r = admin("PATCH", API + "/queues/%d" % S.queueA, body)
        check("queues: %s -> 422" % why, r.status == 422, r)
    r = admin("PATCH", API + "/queues/%d" % S.queueA,
              {"overflow": {"after_s": 60, "queue_id": S.queueB}})
    check("queues: overflow into another client's queue -> 422", r.status == 422, r)
    other = must(admin("POST", API + "/queues", {"client_id": A, "name": "overflow-a"}), 201,
                 "queue A2")
    r = admin("PATCH", API + "/queues/%d" % S.queueA,
              {"overflow": {"after_s": 60, "queue_id": other["id"]}})
    check("queues: overflow into a queue of the same client",
          r.status == 200 and r.json["overflow"] == {"after_s": 60, "queue_id": other["id"]}, r)
    r = admin("POST", API + "/queues", {"client_id": A, "name": "overflow-a"})
    check("queues: a client's queue names are unique -> 409", r.status == 409, r)
    r = as_(S.u["agentA"], "GET", API + "/queues")
    ids = {x["client_id"] for x in r.json["items"]} if r.status == 200 else None
    check("queues: an agent lists only its clients' queues", ids == {A}, r)
    r = as_(S.u["agentA"], "POST", API + "/queues", {"client_id": A, "name": "nope"})
    check("queues: agents may not add queues -> 403", r.status == 403, r)

    agent = S.u["supA"]  # never set before; agents A and B route during the suite
    r = as_(agent, "GET", API + "/agents/me/state")
    check("agent state: offline until set", r.status == 200 and r.json["state"] == "offline", r)
    r = as_(agent, "PUT", API + "/agents/me/state", {"state": "away"})
    check("agent state: away needs a reason -> 422", r.status == 422, r)
    r = as_(agent, "PUT", API + "/agents/me/state", {"state": "away", "reason": "lunch"})
    check("agent state: away with a reason", r.status == 200 and r.json["state"] == "away"
          and r.json["reason"] == "lunch", r)
    r = as_(agent, "PUT", API + "/agents/me/state", {"state": "available", "reason": "x"})
    r2 = as_(agent, "GET", API + "/agents/me/state")
    check("agent state: available clears the reason",
          r.status == 200 and r2.json["state"] == "available" and r2.json["reason"] == "", r2)
    r = as_(S.u["qaA"] if "qaA" in S.u else S.u["supA"], "PUT", API + "/agents/me/state",
            {"state": "wrapup"})
    check("agent state: wrap-up is set by the system only -> 400", r.status == 400, r)
    as_(agent, "PUT", API + "/agents/me/state", {"state": "offline"})


def got_queues(d):
    return d.get("queues") or []


def t_routing():
    """On a client of its own: offers reach the available agent of that
    client; accept assigns and a second accept is refused; reject passes
    the interaction to another agent; the stream pushes offers; finishing
    starts wrap-up; the supervisor view counts."""
    C = must(admin("POST", API + "/clients", {"slug": "route-" + rand(), "name": "Routing C"}),
             201, "client C")["id"]
    a1 = User("agentC1", "agent", [C]).create().login_and_token()
    a2 = User("agentC2", "agent", [C]).create().login_and_token()
    sup = User("supC", "supervisor", [C]).create().login_and_token()
    cust = must(admin("POST", API + "/customers", {"client_id": C, "name": "Cee"}), 201,
                "customer C")["id"]

    def new_interaction(subject, channel="email"):
        return must(as_(a1, "POST", API + "/interactions",
                        {"client_id": C, "channel": channel, "subject": subject,
                         "customer_id": cust}), 201, "interaction " + subject)["id"]

    must(as_(a1, "PUT", API + "/agents/me/state", {"state": "available"}), 200, "C1 available")
    x = new_interaction("accept me")
    o = wait_offer(a1, x)
    check("routing: the waiting interaction is offered to the available agent of its client",
          o["agent_id"] == a1.id and o["client_id"] == C and o["subject"] == "accept me", o)
    r = as_(a2, "POST", API + "/offers/%d/accept" % o["id"])
    check("routing: another agent cannot accept someone's offer -> 404", r.status == 404, r)
    r = as_(a1, "POST", API + "/offers/%d/accept" % o["id"])
    check("routing: accept -> 200", r.status == 200 and r.json["outcome"] == "accepted", r)
    it = as_(a1, "GET", API + "/interactions/%d" % x)
    check("routing: the accepted interaction is the agent's and open",
          it.json["assignee_id"] == a1.id and it.json["status"] == "open", it)
    r = as_(a1, "POST", API + "/offers/%d/accept" % o["id"])
    check("routing: a second accept -> 409", r.status == 409, r)

    y = new_interaction("reject me")
    oy = wait_offer(a1, y)
    r = as_(a1, "POST", API + "/offers/%d/reject" % oy["id"])
    check("routing: reject -> 200", r.status == 200 and r.json["outcome"] == "rejected", r)
    time.sleep(0.3)
    again = [q for q in as_(a1, "GET", API + "/agents/me/offers").json["items"]
             if q["interaction_id"] == y]
    check("routing: a rejected interaction is not offered to the same agent again", not again,
          again)
    must(as_(a2, "PUT", API + "/agents/me/state", {"state": "available"}), 200, "C2 available")
    o2 = wait_offer(a2, y)
    check("routing: the rejected interaction goes to the other agent", o2["agent_id"] == a2.id,
          o2)

    streamed = {}

    def create():
        streamed["id"] = new_interaction("streamed")
    got = read_events(a1.token, "/api/v1/agents/me/stream",
                      lambda e, d: e == "offer" and d.get("interaction_id") == streamed.get("id"),
                      8, trigger=create)
    check("routing: the stream starts with the agent's state",
          bool(got) and got[0][0] == "state" and got[0][1]["state"] == "available", got[:2])
    offer_z = [d for e, d in got if e == "offer" and d.get("interaction_id") == streamed.get("id")]
    check("routing: the stream pushes the new offer", len(offer_z) == 1, got)
    if offer_z:
        as_(a1, "POST", API + "/offers/%d/reject" % offer_z[0]["id"])

    # A customer writes on the agent's interaction: pushed, ids only.
    posted = {}

    def customer_writes():
        posted["id"] = must(admin("POST", API + "/interactions/%d/messages" % x, {
            "direction": "inbound", "body": "Are you still there?"}), 201,
            "the customer writes on the agent's interaction").get("id")
    got = read_events(a1.token, "/api/v1/agents/me/stream",
                      lambda e, d: e == "message" and d.get("message_id") == posted.get("id"),
                      8, trigger=customer_writes)
    pushed_m = [d for e, d in got if e == "message" and d.get("message_id") == posted.get("id")]
    check("routing: the stream pushes a new message on the agent's interaction",
          len(pushed_m) == 1 and pushed_m[0].get("interaction_id") == x
          and pushed_m[0].get("direction") == "inbound" and "body" not in pushed_m[0], got)

    r = as_(a1, "POST", API + "/interactions/%d/finish" % x, {"wrapup_s": 1})
    check("routing: finish -> 200", r.status == 200, r)
    state = {}
    for _ in range(60):
        state = as_(a1, "GET", API + "/agents/me/state").json
        if state["state"] == "wrapup":
            break
        time.sleep(0.02)
    check("routing: wrap-up follows finishing the last work", state.get("state") == "wrapup",
          state)
    for _ in range(80):
        state = as_(a1, "GET", API + "/agents/me/state").json
        if state["state"] == "available":
            break
        time.sleep(0.05)
    check("routing: available again after wrap-up", state.get("state") == "available", state)
    r = as_(a1, "POST", API + "/interactions/%d/finish" % x, {"wrapup_s": 0})
    check("routing: finishing twice -> 409", r.status == 409, r)

    # A supervisor hands the agent an interaction: pushed as "assigned".
    handed = {}

    def hand_over():
        handed["id"] = new_interaction("handed over")
        must(admin("PATCH", API + "/interactions/%d" % handed["id"], {"assignee_id": a1.id}),
             200, "assign it to the agent")
        handed["made"] = must(admin("POST", API + "/interactions", {
            "client_id": C, "channel": "email", "subject": "made for the agent",
            "customer_id": cust, "assignee_id": a1.id}), 201, "created in the agent's hands")["id"]
    got = read_events(a1.token, "/api/v1/agents/me/stream",
                      lambda e, d: e == "assigned" and d.get("interaction_id") == handed.get("made"),
                      8, trigger=hand_over)
    check("routing: the stream pushes an interaction handed to the agent",
          any(e == "assigned" and d.get("interaction_id") == handed.get("id") for e, d in got),
          got)
    check("routing: and one created in the agent's hands",
          any(e == "assigned" and d.get("interaction_id") == handed.get("made") for e, d in got),
          got)
    # A rule hands it on as the customer writes: the new agent is told of the message.
    if handed.get("id"):
        rule = must(admin("POST", API + "/rules", {
            "client_id": C, "name": "hand over on request", "event": "message_in",
            "condition": "contains(details.body, 'a colleague please')",
            "actions": [{"type": "assign", "user_id": a2.id}]}), 201, "a rule that reassigns")

        def asks():
            must(admin("POST", API + "/interactions/%d/messages" % handed["id"], {
                "direction": "inbound", "body": "Put me through to a colleague please"}), 201,
                "the customer asks for someone else")
        got = read_events(a2.token, "/api/v1/agents/me/stream",
                          lambda e, d: e == "message" and d.get("interaction_id") == handed["id"],
                          8, trigger=asks)
        check("routing: the message goes to the agent a rule just handed the interaction to",
              any(e == "message" and d.get("interaction_id") == handed["id"] for e, d in got),
              got[-3:])
        must(admin("PATCH", API + "/rules/%d" % rule["id"], {"active": False}), 200,
             "retire the rule")
    for k in ("id", "made"):  # done with
        if handed.get(k):
            must(admin("PATCH", API + "/interactions/%d" % handed[k], {"status": "resolved"}),
                 200, "resolve the handed interaction")

    # The supervisor's stream pushes fresh figures when work arrives.
    pushed = {}

    def arrive():
        pushed["id"] = new_interaction("for the wall")
    got = read_events(sup.token, "/api/v1/supervisor/stream?client_id=%d" % C,
                      lambda e, d: e == "queues" and len(got_queues(d)) > 0 and "id" in pushed
                      and sum(q["waiting"] + q["offered"] for q in d["queues"]) >= 1
                      and d["at"] > pushed.get("t", 0), 8,
                      trigger=lambda: (pushed.__setitem__("t", int(time.time() * 1000)),
                                       arrive()))
    check("routing: the supervisor stream starts with the queue figures",
          bool(got) and got[0][0] == "queues", got[:1])
    check("routing: the supervisor stream pushes figures after an arrival",
          len([1 for e, d in got if e == "queues"]) >= 2, got)

    view = as_(sup, "GET", API + "/supervisor/queues", query={"client_id": C})
    check("routing: the supervisor view lists queues and agents by state",
          view.status == 200 and isinstance(view.json["queues"], list)
          and view.json["agents"]["available"] == 2, view)
    answered = sum(q["answered_today"] for q in view.json["queues"]) if view.status == 200 else 0
    check("routing: the accepted offer counts as answered today", answered == 1, view)
    r = as_(a1, "GET", API + "/supervisor/queues", query={"client_id": C})
    check("routing: agents do not see the supervisor view -> 403", r.status == 403, r)

    # Skills: a queue's required skills keep work from agents without them.
    must(admin("POST", API + "/queues", {"client_id": C, "name": "vip",
                                         "skills": [{"name": "vip-care", "level": 3}]}), 201,
         "queue vip")
    vip = must(as_(a1, "POST", API + "/interactions",
                   {"client_id": C, "channel": "chat", "subject": "vip", "queue": "vip",
                    "customer_id": cust}), 201, "vip interaction")["id"]
    time.sleep(0.5)
    nobody = [o for u in (a1, a2) for o in as_(u, "GET", API + "/agents/me/offers").json["items"]
              if o["interaction_id"] == vip]
    check("routing: without the queue's skill nobody is offered its work", not nobody, nobody)
    must(admin("PUT", API + "/users/%d/skills" % a2.id,
               {"skills": [{"name": "vip-care", "proficiency": 4}]}), 200, "skill for C2")
    ov = wait_offer(a2, vip)
    check("routing: the agent given the skill is offered it", ov["agent_id"] == a2.id, ov)
    for u in (a1, a2):
        as_(u, "PUT", API + "/agents/me/state", {"state": "offline"})


def t_offline_reoffer():
    """An agent going offline gives its pending offer back, and the router
    offers it to another free agent at once: the withdrawal and the new offer
    are written in one transaction, the old offer closed first."""
    E = must(admin("POST", API + "/clients", {"slug": "reoffer-" + rand(), "name": "Reoffer E"}),
             201, "client E")["id"]
    e1 = User("agentE1", "agent", [E]).create().login_and_token()
    e2 = User("agentE2", "agent", [E]).create().login_and_token()
    cust = must(admin("POST", API + "/customers", {"client_id": E, "name": "Eve"}), 201,
                "customer E")["id"]
    must(as_(e1, "PUT", API + "/agents/me/state", {"state": "available"}), 200, "e1 available")
    x = must(admin("POST", API + "/interactions", {"client_id": E, "channel": "chat",
                                                   "subject": "hand over", "customer_id": cust}),
             201, "interaction")["id"]
    wait_offer(e1, x, 30)
    must(as_(e2, "PUT", API + "/agents/me/state", {"state": "available"}), 200, "e2 available")
    must(as_(e1, "PUT", API + "/agents/me/state", {"state": "offline"}), 200, "e1 offline")
    o = wait_offer(e2, x, 15)
    check("routing: an offer given back by an agent going offline goes to the other agent",
          o["agent_id"] == e2.id, o)
    y = must(admin("POST", API + "/interactions", {"client_id": E, "channel": "chat",
                                                   "subject": "next", "customer_id": cust}),
             201, "another interaction")["id"]
    o = wait_offer(e2, y, 15)
    check("routing: ...and routing goes on", o["agent_id"] == e2.id, o)
    as_(e2, "PUT", API + "/agents/me/state", {"state": "offline"})


def t_membership_removed():
    """An agent taken off a client keeps nothing of it: its pending offer
    there leaves its list at once and goes to someone who serves the
    client, and its open interactions there go back to routing; resolved
    ones keep who handled them."""
    C = must(admin("POST", API + "/clients", {"slug": "leave-" + rand(), "name": "Leave C"}),
             201, "client C")["id"]
    D = must(admin("POST", API + "/clients", {"slug": "stay-" + rand(), "name": "Stay D"}),
             201, "client D")["id"]
    a = User("agentCD", "agent", [C, D]).create().login_and_token()
    b = User("agentC", "agent", [C]).create().login_and_token()
    cust = must(admin("POST", API + "/customers", {"client_id": C, "name": "Cee"}), 201,
                "customer C")["id"]

    # Offers of this queue last 10 minutes: an offer that reaches someone
    # else sooner was withdrawn, however slow the machine.
    must(admin("POST", API + "/queues", {"client_id": C, "name": "slow", "offer_timeout_s": 600}),
         201, "queue with long offers")

    def new_interaction(subject, **kw):
        body = {"client_id": C, "channel": "email", "subject": subject, "customer_id": cust,
                "queue": "slow"}
        body.update(kw)
        return must(admin("POST", API + "/interactions", body), 201, "interaction " + subject)["id"]

    # A supervisor watching C is cut off when taken off C: the stream says
    # why and ends, and reopening it is refused.
    sup = User("supCD", "supervisor", [C, D]).create().login_and_token()
    u = urllib.parse.urlsplit(URL)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", API + "/supervisor/stream?client_id=%d" % C,
                 headers={"Authorization": "Bearer " + sup.token})
    resp = conn.getresponse()
    check("membership: the supervisor watches C", resp.status == 200, resp.status)
    expect("membership: admin takes the supervisor off C",
           admin("DELETE", API + "/users/%d/clients/%d" % (sup.id, C)), 204)
    events, ended, deadline = [], False, time.time() + 30
    try:
        while time.time() < deadline:
            line = resp.readline()  # chunks decoded: "" at the end of the response
            if not line:
                ended = True
                break
            if line.startswith(b"event: "):
                events.append(line[7:].strip().decode())
    except OSError:
        pass
    conn.close()
    check("membership: the supervisor's stream of C is told and ends",
          ended and events and events[-1] == "access_changed", (ended, events))
    got = read_events(sup.token, API + "/supervisor/stream?client_id=%d" % C,
                      lambda e, d: True, 3)
    check("membership: reopening it is refused", got == [("status", 404)], got)
    got = read_events(sup.token, API + "/supervisor/stream?client_id=%d" % D,
                      lambda e, d: e == "queues", 3)
    check("membership: its other client's stream still opens",
          bool(got) and got[0][0] == "queues", got)

    must(as_(a, "PUT", API + "/agents/me/state", {"state": "available"}), 200, "a available")
    held = new_interaction("in hand")
    must(as_(a, "POST", API + "/offers/%d/accept" % wait_offer(a, held, 30)["id"]), 200,
         "accept")
    done = new_interaction("done before", assignee_id=a.id)
    must(admin("PATCH", API + "/interactions/%d" % done, {"status": "resolved"}), 200,
         "resolve")
    pending = new_interaction("offered")
    wait_offer(a, pending, 30)

    expect("membership: admin takes the agent off client C",
           admin("DELETE", API + "/users/%d/clients/%d" % (a.id, C)), 204)
    mine = as_(a, "GET", API + "/agents/me/offers")
    check("membership: the pending offer of C leaves the agent's list at once",
          mine.status == 200 and all(o["client_id"] != C for o in mine.json["items"]), mine)
    r = admin("GET", API + "/interactions/%d" % held)
    check("membership: its open interaction of C is back in nobody's hands",
          r.status == 200 and r.json["assignee_id"] is None, r)
    r = admin("GET", API + "/interactions/%d" % done)
    check("membership: a resolved one keeps who handled it",
          r.status == 200 and r.json["assignee_id"] == a.id, r)
    must(as_(b, "PUT", API + "/agents/me/state", {"state": "available"}), 200, "b available")
    o = wait_offer(b, pending, seconds=30.0)
    check("membership: the withdrawn offer goes to an agent who serves C",
          o["agent_id"] == b.id, o)
    o = wait_offer(b, held, seconds=30.0)
    check("membership: the handed-back interaction is routed again", o["agent_id"] == b.id, o)
    r = as_(a, "GET", API + "/interactions/%d" % held)
    expect("membership: the agent no longer sees it", r, 404, "not_found")
    for u in (a, b):
        as_(u, "PUT", API + "/agents/me/state", {"state": "offline"})

    # A revoked token's streams end too.
    got = read_events(b.token, API + "/agents/me/stream", lambda e, d: e == "access_changed", 30,
                      trigger=lambda: as_(b, "DELETE", API + "/tokens/%d" % b.token_id))
    check("membership: revoking a token ends the streams it opened",
          bool(got) and got[-1][0] == "access_changed", got)
    got = read_events(b.token, API + "/agents/me/stream", lambda e, d: True, 3)
    check("membership: ...and the token opens none again", got == [("status", 401)], got)


def t_workflows():
    """Drafts carry their lint; publishing needs a clean lint and makes
    immutable versions; a session pins its version, refuses answers that do
    not fit, cannot skip the required check, goes back, and applies what the
    workflow does to the interaction."""
    A = S.clients["A"]
    doc = {"id": "wf-test", "version": 1, "start": "verify",
           "variables": {"customer.name": "string"}, "nodes": [
        {"id": "verify", "kind": "check", "required": True, "text": "Verify identity",
         "next": "topic"},
        {"id": "topic", "kind": "ask", "type": "choice", "prompt": "Topic for {{customer.name}}?",
         "options": ["billing", "other"], "next": "route"},
        {"id": "route", "kind": "decide", "rules": [{"when": "answers.topic == 'billing'",
                                                      "next": "bill"}], "default": "done"},
        {"id": "bill", "kind": "act", "actions": [{"type": "tag", "tag": "billing-flow"},
                                                   {"type": "priority", "value": "high"}],
         "next": "done"},
        {"id": "done", "kind": "end", "outcome": "resolved", "code": "DONE"}]}
    wf = admin("POST", API + "/workflows", {"client_id": A, "document": doc})
    check("workflows: a draft is created with its lint report",
          wf.status == 201 and wf.json["lint"]["errors"] == 0 and wf.json["versions"] == [], wf)
    wid = wf.json["id"]
    skip = json.loads(json.dumps(doc))
    skip["nodes"][0]["next"] = "done"  # the check still exists but topic is unreachable
    skip["start"] = "topic"
    r = admin("PUT", API + "/workflows/%d/draft" % wid, {"document": skip})
    check("workflows: a draft that skips the required check has lint errors",
          r.status == 200 and r.json["lint"]["errors"] >= 1, r)
    r = admin("POST", API + "/workflows/%d/publish" % wid)
    check("workflows: publishing a draft with lint errors -> 422", r.status == 422, r)
    admin("PUT", API + "/workflows/%d/draft" % wid, {"document": doc})
    v1 = admin("POST", API + "/workflows/%d/publish" % wid)
    v2 = admin("POST", API + "/workflows/%d/publish" % wid)
    check("workflows: publishing makes versions 1, 2, ...",
          v1.status == 201 and v1.json["version"] == 1 and v2.json["version"] == 2, (v1, v2))
    it = as_(S.u["agentA"], "POST", API + "/interactions",
             {"client_id": A, "channel": "chat", "subject": "workflow", "customer_id": S.custA})
    iid = it.json["id"]
    sess = as_(S.u["agentA"], "POST", API + "/interactions/%d/sessions" % iid,
               {"workflow_id": wid, "version": 1})
    check("workflows: a session starts at the first step, pinned to its version",
          sess.status == 201 and sess.json["current"]["id"] == "verify"
          and sess.json["version"] == 1, sess)
    sid = sess.json["id"]
    r = as_(S.u["agentA"], "POST", API + "/sessions/%d/answer" % sid, {"answer": False})
    check("workflows: failing a required check with nowhere to go -> 422", r.status == 422, r)
    r = as_(S.u["agentA"], "POST", API + "/sessions/%d/answer" % sid, {"answer": True})
    check("workflows: the check done, the session moves on",
          r.status == 200 and r.json["current"]["id"] == "topic", r)
    check("workflows: the step's prompt comes with its variables filled in",
          r.status == 200 and r.json["current"]["prompt"].startswith("Topic for ")
          and "{{" not in r.json["current"]["prompt"] and len(r.json["current"]["prompt"]) > 11,
          r)
    r = as_(S.u["agentA"], "POST", API + "/sessions/%d/answer" % sid, {"answer": "shoes"})
    check("workflows: an answer outside the options -> 422", r.status == 422, r)
    r = as_(S.u["agentA"], "POST", API + "/sessions/%d/back" % sid)
    check("workflows: back returns to the check", r.status == 200
          and r.json["current"]["id"] == "verify", r)
    as_(S.u["agentA"], "POST", API + "/sessions/%d/answer" % sid, {"answer": True})
    r = as_(S.u["agentA"], "POST", API + "/sessions/%d/answer" % sid, {"answer": "billing"})
    check("workflows: the session ends with its outcome",
          r.status == 200 and r.json["ended"] and r.json["status"] == "completed"
          and r.json["outcome"] == "resolved", r)
    after = as_(S.u["agentA"], "GET", API + "/interactions/%d" % iid)
    check("workflows: what the workflow did is applied to the interaction",
          "billing-flow" in after.json["tags"] and after.json["priority"] == "high", after)
    h = as_(S.u["agentA"], "GET", API + "/sessions/%d" % sid)
    check("workflows: the history keeps every answer and the back step",
          h.status == 200 and len(h.json["history"]) == 4
          and any(x.get("back") for x in h.json["history"]), h)
    r = as_(S.u["agentA"], "POST", API + "/sessions/%d/answer" % sid, {"answer": True})
    check("workflows: an ended session takes no more answers -> 409", r.status == 409, r)
    r = as_(S.u["agentA"], "PUT", API + "/workflows/%d/draft" % wid, {"document": doc})
    check("workflows: agents may not edit workflows -> 403", r.status == 403, r)

    # A second session left at its first step shows as drop-off there.
    as_(S.u["agentA"], "POST", API + "/interactions/%d/sessions" % iid,
        {"workflow_id": wid, "version": 1})
    a = as_(S.u["qaA"], "GET", API + "/workflows/%d/analytics" % wid, query={"version": 1})
    check("workflows: analytics count started and completed sessions",
          a.status == 200 and a.json["started"] == 2 and a.json["completed"] == 1, a)
    check("workflows: analytics show drop-off per node and outcomes",
          a.status == 200 and a.json["drop_off"] == {"verify": 1}
          and a.json["outcomes"] == {"resolved": 1}, a)
    check("workflows: analytics show the path, node times and the compliance rate",
          a.status == 200 and a.json["paths"][0]["path"] == "verify -> topic -> done"
          and "topic" in a.json["median_seconds_per_node"] and a.json["compliance_rate"] == 1.0,
          a)
    rp = admin("POST", API + "/workflows/%d/republish" % wid, {"version": 1})
    check("workflows: an older version is published again as the next one",
          rp.status == 201 and rp.json["version"] == 3, rp)
    rp = admin("POST", API + "/workflows/%d/republish" % wid, {"version": 99})
    check("workflows: republishing a version that does not exist -> 404", rp.status == 404, rp)
    v2a = as_(S.u["qaA"], "GET", API + "/workflows/%d/analytics" % wid, query={"version": 2})
    check("workflows: analytics of another version count only its own sessions",
          v2a.status == 200 and v2a.json["version"] == 2 and v2a.json["started"] == 0, v2a)


def main():
    t0 = time.time()
    print("caredesk API tests against %s (%s)" % (URL, STORE))
    run("setup", setup)
    if not hasattr(S, "intB"):
        print("setup failed; stopping")
        print("%d passed, %d failed" % (PASSED, FAILED))
        return 1
    section("functional")
    for fn in [t_crud, t_pagination, t_filters, t_identity_matching, t_lifecycle,
               t_versions_events_fields_tags, t_idempotency, t_sessions, t_roles,
               t_throttle_account, t_audit, t_meta, t_queues, t_routing, t_offline_reoffer, t_membership_removed,
               t_workflows]:
        run(fn.__name__, fn)
    section("hostile strings")
    run("hostile", t_hostile)
    # The generated sections need openapi.json; they run after the others so a
    # failure to serve it does not hide the rest.
    section("route table")
    doc_ops = None
    try:
        doc_ops = load_openapi()
    except Exception:  # noqa: BLE001
        check("openapi: loaded", False, traceback.format_exc())
    if doc_ops:
        run("route table", t_route_table, doc_ops)
        run("tenant", t_tenant, doc_ops)
        run("malformed", t_malformed, doc_ops)
    else:
        check("tenant isolation and malformed-input tables ran", False,
              "openapi.json unavailable")
    section("audit chain after everything")
    run("audit verify", verify_audit_cli, "audit: chain intact after the whole suite")
    run("throttle address", t_throttle_address)
    print("(%.1f s)" % (time.time() - t0))
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Routing survives a restart (SIGKILL) of the server.

Starts caredesk on a fresh SQLite store, makes an agent available, lets the
router offer three interactions: one is accepted (an assignment), one
rejected (an outcome), one left pending. Then kills the server with
SIGKILL, starts it again and checks that the engine was rebuilt from the
store: the assignment and the rejection stand, the rejected interaction is
not offered to the agent who rejected it, the pending offer is made again,
and a new arrival is routed."""
import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

SRC = os.environ.get("CAREDESK_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PASSED = FAILED = 0


def check(name, ok, detail=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print("PASS " + name)
    else:
        FAILED += 1
        print("FAIL %s -- %s" % (name, str(detail)[:300]))


class Server:
    def __init__(self, binary, db):
        self.proc = subprocess.Popen([binary, "serve", "--db", db, "--listen", "127.0.0.1:0",
                                      "--quiet", "--web", os.path.join(SRC, "web")],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        u = urllib.parse.urlsplit(self.proc.stdout.readline().strip().split("listening on ")[1])
        self.host, self.port = u.hostname, u.port

    def health(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request("GET", "/healthz")
            return json.loads(conn.getresponse().read())
        except (OSError, ValueError):
            return {}
        finally:
            conn.close()

    def call(self, method, path, body=None, token=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            hdrs = {"Authorization": "Bearer " + token}
            data = json.dumps(body).encode() if body is not None else None
            if data:
                hdrs["Content-Type"] = "application/json"
            conn.request(method, "/api/v1" + path, body=data, headers=hdrs)
            r = conn.getresponse()
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
        finally:
            conn.close()


def wait_offer(srv, token, interaction, seconds=8.0, not_id=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        st, js = srv.call("GET", "/agents/me/offers", token=token)
        for o in (js or {}).get("items", []):
            if o["interaction_id"] == interaction and o["id"] != not_id:
                return o
        time.sleep(0.05)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    tmp = tempfile.mkdtemp(prefix="caredesk-restart-")
    db = os.path.join(tmp, "r.db")
    run = lambda *a: subprocess.run([binary] + list(a), check=True, stdout=subprocess.PIPE,
                                    text=True).stdout.strip()
    srv = None
    try:
        client = int(run("client", "add", "--db", db, "--slug", "rr", "--name", "R").split()[1])
        run("user", "add", "--db", db, "--email", "a@r.test", "--role", "agent",
            "--client", "rr")
        run("user", "add", "--db", db, "--email", "b@r.test", "--role", "agent",
            "--client", "rr")
        ta = run("token", "create", "--db", db, "--email", "a@r.test")
        tb = run("token", "create", "--db", db, "--email", "b@r.test")
        srv = Server(binary, db)
        srv.call("PUT", "/agents/me/state", {"state": "available"}, token=ta)
        ids = []
        for subject in ("keep", "reject", "pending"):
            st, it = srv.call("POST", "/interactions", {"client_id": client, "channel": "email",
                                                         "subject": subject}, token=ta)
            ids.append(it["id"])
        offers = [wait_offer(srv, ta, i) for i in ids]
        check("three offers made to the available agent", all(offers), offers)
        srv.call("POST", "/offers/%d/accept" % offers[0]["id"], token=ta)
        srv.call("POST", "/offers/%d/reject" % offers[1]["id"], token=ta)
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()

        srv = Server(binary, db)
        # The killed server's routing lease runs out first (5 s).
        deadline = time.time() + 15
        while time.time() < deadline and srv.health().get("routing") != "leader":
            time.sleep(0.1)
        check("the restarted server takes routing over", srv.health().get("routing") == "leader")
        st, it = srv.call("GET", "/interactions/%d" % ids[0], token=ta)
        check("after the restart the assignment stands", it["assignee_id"] is not None, it)
        again = wait_offer(srv, ta, ids[2], not_id=offers[2]["id"])
        check("the offer pending at the kill is withdrawn and made again", again is not None,
              again)
        time.sleep(0.5)
        st, mine = srv.call("GET", "/agents/me/offers", token=ta)
        check("the rejected interaction is not offered again to the agent who rejected it",
              all(o["interaction_id"] != ids[1] for o in mine["items"]), mine)
        srv.call("PUT", "/agents/me/state", {"state": "available"}, token=tb)
        ob = wait_offer(srv, tb, ids[1])
        check("it goes to another agent", ob is not None, ob)
        st, it = srv.call("POST", "/interactions", {"client_id": client, "channel": "chat",
                                                     "subject": "after"}, token=ta)
        offered = wait_offer(srv, ta, it["id"]) or wait_offer(srv, tb, it["id"])
        check("a new arrival is routed after the restart", offered is not None, offered)
        srv.proc.send_signal(signal.SIGTERM)
        check("the server stops cleanly", srv.proc.wait(timeout=20) == 0)
        srv = None
    finally:
        if srv and srv.proc.poll() is None:
            srv.proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())

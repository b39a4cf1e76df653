#!/usr/bin/env python3
"""Two caredesk servers on one PostgreSQL route as one.

Run under tests/harness.py --store pg (which starts server 1 and gives the
database URL); this script starts server 2 on the same database, floods
both with arrivals while agents accept and finish offers through either
server, kills server 1 with SIGKILL half way (server 2 must take routing
over), and checks the invariants: every interaction is assigned exactly
once, no offer crosses clients, no agent holds more than its capacity, and
every interaction is served in the end."""
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

from apitest import read_events

BIN = os.environ["CAREDESK_BIN"]
DB = os.environ["CAREDESK_DB"]
SRC = os.environ["CAREDESK_SRC"]
ADMIN = os.environ["CAREDESK_ADMIN_TOKEN"]
AGENTS_PER_CLIENT = 3
ARRIVALS = 240
EMAIL_CAPACITY = 5  # 60 units / 12 per email

PASSED = FAILED = 0


def check(name, ok, detail=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print("PASS " + name)
    else:
        FAILED += 1
        print("FAIL %s -- %s" % (name, str(detail)[:400]))
    return ok


def call(base, method, path, body=None, token=ADMIN, timeout=30):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Authorization": "Bearer " + token}
        if data:
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None)
    except (OSError, http.client.HTTPException, ValueError):
        return 0, None
    finally:
        conn.close()


def cli(*args):
    return subprocess.run([BIN] + list(args), check=True, stdout=subprocess.PIPE,
                          text=True).stdout.strip()


def start_server():
    proc = subprocess.Popen([BIN, "serve", "--db", DB, "--listen", "127.0.0.1:0", "--quiet",
                             "--web", os.path.join(SRC, "web")], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    return proc, line.split("listening on ")[1]


class Servers:
    """The live servers; requests go to a random one of them."""
    def __init__(self, urls):
        self.urls = list(urls)
        self.lock = threading.Lock()

    def pick(self):
        with self.lock:
            return random.choice(self.urls)

    def drop(self, url):
        with self.lock:
            self.urls.remove(url)


def main():
    random.seed(7)
    proc1, URL1 = start_server()
    proc2, url2 = start_server()
    servers = Servers([URL1, url2])
    clients, agents = [], []
    for n in range(2):
        st, c = call(URL1, "POST", "/api/v1/clients", {"slug": "multi-%d-%d" % (n, os.getpid()),
                                                       "name": "Multi %d" % n})
        clients.append(c["id"])
        for k in range(AGENTS_PER_CLIENT):
            email = "agent-%d-%d-%d@multi.test" % (n, k, os.getpid())
            st, u = call(URL1, "POST", "/api/v1/users", {"email": email, "name": email,
                                                         "role": "agent",
                                                         "clients": [c["id"]]})
            agents.append({"id": u["id"], "client": c["id"],
                           "token": cli("token", "create", "--db", DB, "--email", email)})
    st, c = call(URL1, "GET", "/api/v1/clients")
    for a in agents:
        st, _ = call(servers.pick(), "PUT", "/api/v1/agents/me/state", {"state": "available"},
                     token=a["token"])
    check("setup: two clients, six agents available", len(agents) == 6)

    # Live streams: an agent and a supervisor connected to the server that
    # does not route see what the routing server decides.
    roles = {}
    deadline = time.time() + 10
    while time.time() < deadline and sorted(roles.values()) != ["leader", "standby"]:
        roles = {u: (call(u, "GET", "/healthz")[1] or {}).get("routing") for u in (URL1, url2)}
        time.sleep(0.05)
    standby = URL1 if roles.get(URL1) == "standby" else url2
    leader = url2 if standby == URL1 else URL1
    a0 = agents[0]
    made = {}

    def arrive_for_a0():
        st, it = call(leader, "POST", "/api/v1/interactions",
                      {"client_id": a0["client"], "channel": "email", "subject": "streamed",
                       "preferred_agent_id": a0["id"]})
        made["id"] = it["id"] if st == 201 else None

    got = read_events(a0["token"], "/api/v1/agents/me/stream",
                      lambda e, d: e == "offer" and d.get("interaction_id") == made.get("id"),
                      10, trigger=arrive_for_a0, url=standby)
    check("an agent on the standby server is pushed the routing server's offer",
          made.get("id") and any(e == "offer" and d.get("interaction_id") == made["id"]
                                 for e, d in got), (roles, got[-3:]))
    seen = {}

    def another():
        seen["t"] = int(time.time() * 1000)
        arrive_for_a0()

    got = read_events(ADMIN, "/api/v1/supervisor/stream?client_id=%d" % a0["client"],
                      lambda e, d: e == "queues" and d.get("at", 0) >= seen.get("t", 1 << 62)
                      and sum(q["waiting"] + q["offered"] for q in d.get("queues", [])) >= 2,
                      10, trigger=another, url=standby)
    check("a supervisor on the standby server is pushed fresh figures",
          len([1 for e, d in got if e == "queues"]) >= 2 and got[-1][0] == "queues"
          and got[-1][1].get("at", 0) >= seen["t"], got[-2:])

    created = {}        # interaction id -> client
    accepted = {}       # interaction id -> [agent ids whose accept succeeded]
    violations = []
    failures = []
    lock = threading.Lock()
    stop = threading.Event()

    def arrivals(worker):
        for i in range(ARRIVALS // 4):
            client = clients[(worker + i) % 2]
            st, it = call(servers.pick(), "POST", "/api/v1/interactions",
                          {"client_id": client, "channel": "email",
                           "subject": "flood %d-%d" % (worker, i)})
            if st == 201:
                with lock:
                    created[it["id"]] = client
            else:
                with lock:
                    failures.append(st)

    def agent_loop(a):
        held = []
        while not stop.is_set():
            st, offers = call(servers.pick(), "GET", "/api/v1/agents/me/offers", token=a["token"])
            for o in (offers or {}).get("items", []) if st == 200 else []:
                if o["client_id"] != a["client"]:
                    with lock:
                        violations.append(("offer crossed clients", o, a["id"]))
                st, r = call(servers.pick(), "POST", "/api/v1/offers/%d/accept" % o["id"],
                             token=a["token"])
                if st == 200:
                    held.append(o["interaction_id"])
                    with lock:
                        accepted.setdefault(o["interaction_id"], []).append(a["id"])
                        if len(held) > EMAIL_CAPACITY:
                            violations.append(("over capacity", a["id"], list(held)))
            # Work a little, then finish the oldest item.
            if held and random.random() < 0.7:
                it = held.pop(0)
                call(servers.pick(), "POST", "/api/v1/interactions/%d/finish" % it,
                     {"wrapup_s": 0}, token=a["token"])
            time.sleep(0.01)

    workers = [threading.Thread(target=agent_loop, args=(a,)) for a in agents]
    for w in workers:
        w.start()
    flood = [threading.Thread(target=arrivals, args=(k,)) for k in range(4)]
    for f in flood:
        f.start()
    time.sleep(1.0)
    # Kill the server that routes, mid-flood: the other must take over.
    roles = {u: (call(u, "GET", "/healthz")[1] or {}).get("routing") for u in (URL1, url2)}
    check("exactly one server routes, the other stands by",
          sorted(roles.values()) == ["leader", "standby"], roles)
    leader = url2 if roles[url2] == "leader" else URL1
    victim, survivor = (proc1, proc2) if leader == URL1 else (proc2, proc1)
    servers.drop(leader)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    url2, proc2 = (url2, proc2) if leader == URL1 else (URL1, proc1)  # the survivor
    check("the routing server killed with SIGKILL during the flood",
          victim.returncode == -signal.SIGKILL)
    for f in flood:
        f.join()
    def lost_answers():
        """Interactions assigned in the store whose accept answer never came
        back: accepted by the killed server just before it died."""
        out = {}
        for i in created:
            if i not in accepted:
                st, it = call(url2, "GET", "/api/v1/interactions/%d" % i)
                if st == 200 and it.get("assignee_id"):
                    out[i] = it["assignee_id"]
        return out

    deadline = time.time() + 60
    while time.time() < deadline:
        with lock:
            waiting = [i for i in created if i not in accepted]
        if not waiting or len(waiting) == len(lost_answers()):
            break
        time.sleep(0.2)
    stop.set()
    for w in workers:
        w.join()
    st, health = call(url2, "GET", "/healthz")
    check("the surviving server took routing over",
          st == 200 and health["routing"] == "leader", health)

    check("every arrival was created (a few may die with server 1)",
          len(created) >= ARRIVALS * 0.9, (len(created), failures[:20]))
    lost = lost_answers()
    check("an accept whose answer died with server 1 is the only kind not seen (%d)" % len(lost),
          len(lost) <= len(agents), lost)
    for i, agent in lost.items():
        accepted.setdefault(i, []).append(agent)
    missing = [i for i in created if i not in accepted]
    for i in missing[:3]:
        print("  missing", i, call(url2, "GET", "/api/v1/interactions/%d" % i))
    check("every interaction was offered and accepted in the end (server 2 took over)",
          not missing, missing[:10])
    twice = {i: a for i, a in accepted.items() if len(a) != 1}
    check("no interaction was assigned twice", not twice, twice)
    check("no offer crossed clients and no agent went over capacity", not violations,
          violations[:5])
    st, page = call(url2, "GET", "/api/v1/interactions?limit=200&client_id=%d" % clients[0])
    wrong = [x["id"] for x in (page or {}).get("items", [])
             if x["id"] in accepted and x["assignee_id"] != accepted[x["id"]][0]]
    check("the store agrees on every assignee", st == 200 and not wrong, wrong[:10])
    proc2.send_signal(signal.SIGTERM)
    code = proc2.wait(timeout=20)
    check("server 2 stops cleanly", code == 0, code)
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Crash test: acknowledged writes survive SIGKILL.

    python3 tests/api/test_crash.py --bin BUILD/caredesk [--cycles 3]

Creates a fresh SQLite store in a temporary directory (an admin, an API
token, one client), starts `caredesk serve` on it and, for each cycle:

  1. 16 threads POST interactions (each with a first message and a unique
     subject) as fast as they can;
  2. after ~1.5 s the server is killed with SIGKILL while requests are in
     flight;
  3. the server is restarted on the same file, and every interaction whose
     creation was acknowledged (2xx) must exist with its subject and its
     message; every interaction present must be whole (its one message,
     its audit entry) and one the test sent;
  4. `caredesk audit verify` must report the hash chain intact.

Prints one line per check and ends with `N passed, N failed`; exits 1 on
any failure. Standard library only.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

SRC = os.environ.get("CAREDESK_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
ADMIN_EMAIL = "admin@crash.test"
ADMIN_PASSWORD = "crash-test-password"

PASSED = 0
FAILED = 0


def check(name, ok, detail=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print("PASS %s" % name)
    else:
        FAILED += 1
        print("FAIL %s%s" % (name, (" -- " + str(detail)[:800]) if detail else ""))
    sys.stdout.flush()
    return bool(ok)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=120)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s %s" % (" ".join(cmd[:3]), p.returncode,
                                                       p.stdout, p.stderr))
    return p.stdout


class Server:
    def __init__(self, binary, db, log_path):
        self.log = open(log_path, "a")
        self.log.write("---- start %s\n" % time.strftime("%H:%M:%S"))
        self.log.flush()
        self.proc = subprocess.Popen(
            [binary, "serve", "--db", db, "--listen", "127.0.0.1:0", "--quiet",
             "--web", os.path.join(SRC, "web")],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("server did not start: %r" % line)
        u = urllib.parse.urlsplit(line[len("listening on "):])
        self.host, self.port = u.hostname, u.port
        for _ in range(200):
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError("server does not answer /healthz")

    def request(self, method, path, body=None, token=None, timeout=30):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            hdrs = {}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
            if token:
                hdrs["Authorization"] = "Bearer " + token
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            raw = r.read()
            try:
                js = json.loads(raw) if raw else None
            except ValueError:
                js = None
            return r.status, js
        finally:
            conn.close()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self, timeout=15):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = "hung"
        self.log.close()
        return code


def load(srv, token, client_id, cycle, nthreads, seconds):
    """Posts interactions from nthreads until the server dies (killed after
    seconds). Returns (acked list of (id, subject, body), counts)."""
    acked = []
    lock = threading.Lock()
    stop = threading.Event()
    stats = {"sent": 0, "acked": 0, "errors": 0, "non2xx": 0}

    def worker(t):
        conn = None
        n = 0
        while not stop.is_set():
            n += 1
            subject = "crash c%d t%02d n%05d %s" % (cycle, t, n, os.urandom(4).hex())
            body = "first message of <%s> ✓" % subject
            payload = json.dumps({"client_id": client_id, "channel": "chat", "subject": subject,
                                  "tags": ["crash-c%d" % cycle],
                                  "message": {"direction": "inbound", "body": body}}).encode()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
                conn.request("POST", "/api/v1/interactions", body=payload, headers={
                    "Authorization": "Bearer " + token, "Content-Type": "application/json"})
                with lock:
                    stats["sent"] += 1
                r = conn.getresponse()
                raw = r.read()
                if 200 <= r.status < 300:
                    js = json.loads(raw)
                    with lock:
                        stats["acked"] += 1
                        acked.append((js["id"], subject, body, js))
                else:
                    with lock:
                        stats["non2xx"] += 1
                    if r.status >= 500:
                        sys.stdout.write("  (server answered %d: %r)\n" % (r.status, raw[:200]))
            except (OSError, http.client.HTTPException, ValueError):
                with lock:
                    stats["errors"] += 1
                if conn is not None:
                    conn.close()
                conn = None
                if srv.proc.poll() is not None:
                    break
                time.sleep(0.001)
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(nthreads)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    in_flight_at_kill = stats["sent"] - stats["acked"] - stats["non2xx"]
    srv.kill()
    stop.set()
    for t in threads:
        t.join(60)
    stats["in_flight_at_kill"] = in_flight_at_kill
    return acked, stats


def fetch_all(srv, token, path, query):
    items, cursor = [], None
    for _ in range(10000):
        q = dict(query, limit=200)
        if cursor:
            q["cursor"] = cursor
        status, js = srv.request("GET", path + "?" + urllib.parse.urlencode(q), token=token)
        if status != 200:
            raise RuntimeError("GET %s -> %s %r" % (path, status, js))
        items.extend(js["items"])
        cursor = js.get("next_cursor")
        if not cursor:
            return items
    raise RuntimeError("too many pages")


def messages_of(srv, token, ids, nthreads=8):
    """{interaction id: [message bodies]} fetched concurrently."""
    out = {}
    errors = []
    ids = list(ids)
    lock = threading.Lock()

    def worker(part):
        for iid in part:
            try:
                status, js = srv.request("GET", "/api/v1/interactions/%d/messages" % iid,
                                         token=token)
                bodies = [m["body"] for m in js["items"]] if status == 200 else None
            except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
                bodies = None
                errors.append(repr(e))
            with lock:
                out[iid] = bodies

    parts = [ids[i::nthreads] for i in range(nthreads)]
    ts = [threading.Thread(target=worker, args=(p,)) for p in parts]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def verify(srv, token, client_id, cycle, acked, sent_subjects, binary, db):
    # Every interaction of the test client, across all cycles so far.
    rows = fetch_all(srv, token, "/api/v1/interactions", {"client_id": client_id})
    by_id = {r["id"]: r for r in rows}
    check("cycle %d: list after restart has no duplicate ids" % cycle,
          len(by_id) == len(rows), "%d rows, %d ids" % (len(rows), len(by_id)))
    lost = [(i, s) for i, s, _, _ in acked if i not in by_id]
    check("cycle %d: all %d acknowledged interactions survived the SIGKILL" % (
        cycle, len(acked)), not lost, "%d lost, e.g. %s" % (len(lost), lost[:5]))
    wrong = [(i, s, by_id[i]["subject"]) for i, s, _, _ in acked
             if i in by_id and by_id[i]["subject"] != s]
    check("cycle %d: acknowledged interactions keep their subjects" % cycle, not wrong,
          wrong[:5])
    # Direct reads of a sample of acknowledged ids (the list is checked in full).
    sample = acked[:: max(1, len(acked) // 50)]
    bad = []
    for i, s, _, js in sample:
        status, got = srv.request("GET", "/api/v1/interactions/%d" % i, token=token)
        if status != 200 or got.get("subject") != s or got.get("client_id") != client_id:
            bad.append((i, status, got))
    check("cycle %d: GET of acknowledged interactions returns them" % cycle, not bad, bad[:3])
    msgs = messages_of(srv, token, by_id.keys())
    want_body = {i: b for i, _, b, _ in acked}
    missing_msg = [(i, msgs.get(i)) for i in want_body if i in by_id
                   and msgs.get(i) != [want_body[i]]]
    check("cycle %d: every acknowledged interaction has its first message" % cycle,
          not missing_msg, "%d without, e.g. %s" % (len(missing_msg), missing_msg[:5]))
    # Atomicity: whatever exists (acknowledged or not) is whole and ours.
    strangers = [i for i, r in by_id.items() if r["subject"] not in sent_subjects]
    check("cycle %d: every stored interaction is one the test sent" % cycle, not strangers,
          strangers[:5])
    torn = [(i, msgs.get(i)) for i, r in by_id.items()
            if msgs.get(i) != ["first message of <%s> ✓" % r["subject"]]]
    check("cycle %d: no interaction without (or with extra) messages" % cycle, not torn,
          "%d torn, e.g. %s" % (len(torn), torn[:5]))
    unacked = len(by_id) - len({i for i, _, _, _ in acked})
    print("  cycle %d: %d stored in total, %d of them never acknowledged (committed while "
          "the answer was lost)" % (cycle, len(by_id), unacked))
    # The audit log has one create entry per stored interaction.
    audit = fetch_all(srv, token, "/api/v1/audit", {"client_id": client_id})
    created = [a["entity_id"] for a in audit
               if a["entity"] == "interaction" and a["action"] == "create"]
    check("cycle %d: one audit entry per stored interaction" % cycle,
          sorted(created) == sorted(by_id), "%d entries for %d interactions" % (
              len(created), len(by_id)))
    p = subprocess.run([binary, "audit", "verify", "--db", db], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=300)
    check("cycle %d: `caredesk audit verify` exits 0 (intact)" % cycle,
          p.returncode == 0 and "intact" in p.stdout, "exit %d: %s" % (
              p.returncode, p.stdout.strip()))
    status, js = srv.request("GET", "/healthz")
    check("cycle %d: restarted server healthy" % cycle, status == 200, js)



def graceful_stop(srv):
    """SIGTERM while a slow request (a login: argon2id) is being handled:
    the request must still be answered, then the server exits."""
    result = {}

    def login():
        try:
            result["status"] = srv.request("POST", "/api/v1/auth/login",
                                           {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})[0]
        except (OSError, http.client.HTTPException) as e:
            result["status"] = "no answer: %r" % e

    t = threading.Thread(target=login)
    t.start()
    time.sleep(0.03)
    code = srv.stop()
    t.join(30)
    check("SIGTERM: the request in flight was answered before exit",
          result.get("status") == 200, result)
    return code


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=1.5)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    tmp = tempfile.mkdtemp(prefix="caredesk-crash-")
    db = os.path.join(tmp, "crash.db")
    log_path = os.path.join(tmp, "server.log")
    srv = None
    t0 = time.time()
    try:
        run([binary, "user", "add", "--db", db, "--email", ADMIN_EMAIL, "--role", "admin",
             "--name", "Crash Admin", "--password", ADMIN_PASSWORD])
        token = run([binary, "token", "create", "--db", db, "--email", ADMIN_EMAIL]).strip()
        out = run([binary, "client", "add", "--db", db, "--slug", "crash", "--name", "Crash"])
        client_id = int(out.split()[1]) if out.startswith("client ") else None
        check("setup: admin, token and client created by the CLI", token and client_id, out)
        srv = Server(binary, db, log_path)
        sent_subjects = set()
        acked_all = []
        for cycle in range(1, args.cycles + 1):
            acked, stats = load(srv, token, client_id, cycle, args.threads, args.seconds)
            srv = None
            acked_all.extend(acked)
            print("  cycle %d: %s" % (cycle, stats))
            check("cycle %d: writes were acknowledged before the kill" % cycle, len(acked) > 0,
                  stats)
            check("cycle %d: no 5xx or other non-2xx answers under load" % cycle,
                  stats["non2xx"] == 0, stats)
            # Subjects we sent: all acknowledged ones, plus any in flight. The
            # workers make subjects unique with random bits, so a stored row
            # whose subject matches the pattern of this run is ours.
            sent_subjects |= {s for _, s, _, _ in acked_all}
            srv = Server(binary, db, log_path)
            # Rows committed without an acknowledgement are ours too if they
            # carry this run's subject pattern; collect them before verifying.
            rows = fetch_all(srv, token, "/api/v1/interactions", {"client_id": client_id})
            sent_subjects |= {r["subject"] for r in rows
                              if r["subject"].startswith("crash c") and r.get("tags") == [
                                  "crash-c%s" % r["subject"].split()[1][1:]]}
            verify(srv, token, client_id, cycle, acked_all, sent_subjects, binary, db)
        code = graceful_stop(srv)
        srv = None
        check("final SIGTERM: server exits cleanly (0)", code == 0, code)
    except Exception as e:  # noqa: BLE001 - reported as a failure
        import traceback
        check("crash test ran to completion", False, traceback.format_exc())
        del e
    finally:
        if srv is not None and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        if FAILED and os.path.exists(log_path):
            print("server log (last lines):")
            with open(log_path) as f:
                sys.stdout.write("".join(f.readlines()[-40:]))
        if args.keep:
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("(%.1f s)" % (time.time() - t0))
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())

"""What the API test scripts share: checks, HTTP calls, polling, the summary.

A script imports what it needs (`from apitest import check, must, call, admin, until`),
runs its checks, and ends with `finish(main)`, which prints `N passed, N failed` and
exits 1 on any failure. The harness (tests/harness.py) sets CAREDESK_URL and
CAREDESK_ADMIN_TOKEN. Standard library only.
"""
import http.client
import http.server
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse

URL = os.environ.get("CAREDESK_URL", "")
ADMIN = os.environ.get("CAREDESK_ADMIN_TOKEN", "")
API = "/api/v1"
_count = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    """Records one check; returns ok."""
    if ok:
        _count["passed"] += 1
        print("PASS " + name)
    else:
        _count["failed"] += 1
        print("FAIL %s -- %s" % (name, str(detail)[:800]))
    sys.stdout.flush()
    return ok


class Resp(dict):
    """A JSON answer (a dict) with its HTTP status."""
    status = 0


def call(token, method, path, body=None, url=None, query=None):
    """One request as the bearer of token; the answer as a Resp."""
    u = urllib.parse.urlsplit(url or URL)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    headers = {"Authorization": "Bearer " + token}
    if query:
        path += "?" + urllib.parse.urlencode(query)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    c.request(method, path, data, headers)
    r = c.getresponse()
    raw = r.read()
    c.close()
    out = Resp()
    try:
        v = json.loads(raw) if raw else {}
        if isinstance(v, dict):
            out.update(v)
        else:
            out["_"] = v
    except ValueError:
        out["_raw"] = raw
    out.status = r.status
    return out


def admin(method, path, body=None, url=None, query=None):
    """One request as the harness's administrator."""
    return call(ADMIN, method, path, body, url, query)


def must(r, status, what):
    """Checks the status; a step the rest depends on ends the script if it fails."""
    if not check("%s (HTTP %d)" % (what, status), r.status == status,
                 "%d %s" % (r.status, dict(r))):
        raise SystemExit("cannot go on: " + what)
    return r


def pair_call(token, method, path, body=None):
    """call(), answered as a (status, body) pair, for scripts that read pairs."""
    r = call(token, method, path, body)
    return r.status, (r["_"] if set(r) == {"_"} else dict(r))


def pair_admin(method, path, body=None):
    """admin(), answered as a (status, body) pair."""
    return pair_call(ADMIN, method, path, body)


def pair_must(res, status, what):
    """must() for a (status, body) pair; returns the body."""
    if not check("%s (HTTP %d)" % (what, status), res[0] == status, res):
        raise SystemExit("cannot go on: " + what)
    return res[1]


def until(fn, seconds=8.0):
    """Polls fn until it returns a true value or time is up; the last value."""
    deadline = time.time() + seconds
    v = fn()
    while not v and time.time() < deadline:
        time.sleep(0.1)
        v = fn()
    return v


def read_events(token, path, want, seconds, trigger=None, url=None):
    """Opens an event stream as the bearer of token, runs trigger once it is
    open, and reads events until want(event, data) holds or time runs out.
    Returns the list of (event, data) read ([("status", n)] if refused)."""
    u = urllib.parse.urlsplit(url or URL)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=seconds)
    conn.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = conn.getresponse()
    got = []
    if r.status != 200:
        conn.close()
        return [("status", r.status)]
    if trigger:
        trigger()
    deadline = time.time() + seconds
    event = None
    try:
        while time.time() < deadline:
            line = r.fp.readline().decode("utf-8").rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                got.append((event, data))
                if want(event, data):
                    break
    except (OSError, ValueError):
        pass
    conn.close()
    return got


def webhook_receiver(received, fail_first=None):
    """Starts a real HTTPS receiver on 127.0.0.1 with the harness's certificate
    (CAREDESK_TLS_CERT/KEY, which the servers trust). Each POST is appended to
    `received` as {path, id (its Webhook-Id), body}; while fail_first["n"] > 0 it
    answers 503 instead and counts down. Returns (server, base URL)."""
    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if fail_first and fail_first["n"] > 0:
                fail_first["n"] -= 1
                self.send_response(503)
                self.end_headers()
                return
            received.append({"path": self.path, "id": self.headers.get("Webhook-Id"),
                             "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.environ["CAREDESK_TLS_CERT"], os.environ["CAREDESK_TLS_KEY"])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, "https://127.0.0.1:%d" % srv.server_address[1]


def failures():
    """How many checks failed so far."""
    return _count["failed"]


def finish(main):
    """Runs main, prints the summary line, exits 1 on any failure."""
    try:
        main()
    except SystemExit as e:
        print(e)
    print("%d passed, %d failed" % (_count["passed"], _count["failed"]))
    sys.exit(1 if _count["failed"] or not _count["passed"] else 0)

#!/usr/bin/env python3
"""Connections made on a client's behalf reach public addresses only.

    harness.py --bin BUILD/caredesk --store sqlite --no-server -- python3 tests/api/test_netguard.py

A rule's webhook aimed at the server's own loopback (by address, by a name
that resolves to it, over IPv6) or at the cloud metadata address is refused
when the connection would be made: the delivery fails at once, without
retries, naming the refused address, and the receiver (a real HTTPS server
on 127.0.0.1) gets nothing. An IMAP mailbox on loopback is refused the same
way. The same server started with --allow-private-targets delivers to the
same receiver.

Ends with `N passed, N failed`.
"""
import json
import os
import signal
import socket
import subprocess
import threading

from apitest import API, check, finish, must, until, webhook_receiver
from apitest import call as call_as

BIN = os.environ["CAREDESK_BIN"]
DB = os.environ["CAREDESK_DB"]
SRC = os.environ["CAREDESK_SRC"]
ADMIN = os.environ["CAREDESK_ADMIN_TOKEN"]

RECEIVED = []


def start_server(*extra):
    env = dict(os.environ)
    env.pop("CAREDESK_ALLOW_PRIVATE_TARGETS", None)  # the default: public addresses only
    proc = subprocess.Popen([BIN, "serve", "--db", DB, "--listen", "127.0.0.1:0", "--quiet",
                             "--web", os.path.join(SRC, "web")] + list(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError("server did not start: %r" % line)
    return proc, line[len("listening on "):]


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def deliveries(url, iid):
    return call_as(ADMIN, "GET", API + "/interactions/%d/webhooks" % iid, url=url).get("items", [])


def main():
    receiver, _ = webhook_receiver(RECEIVED)
    port = receiver.server_address[1]
    proc, url = start_server()

    def call(method, path, body=None):
        return call_as(ADMIN, method, path, body, url=url)

    A = must(call("POST", API + "/clients", {"slug": "guard-a", "name": "Guard A"}), 201,
             "client A")["id"]
    targets = {"loopback": "https://127.0.0.1:%d/hook" % port,
               "a name for loopback": "https://localhost:%d/hook" % port,
               "IPv6 loopback": "https://[::1]:%d/hook" % port,
               "IPv4 in IPv6": "https://[::ffff:127.0.0.1]:%d/hook" % port,
               "cloud metadata": "https://169.254.169.254/latest/meta-data/"}
    for name, target in targets.items():
        must(call("POST", API + "/rules", {
            "client_id": A, "name": name, "event": "created",
            "actions": [{"type": "webhook", "url": target}]}), 201, "a rule: webhook to " + name)
    it = must(call("POST", API + "/interactions", {"client_id": A, "channel": "chat"}), 201,
              "an interaction fires them")
    def all_failed():
        hs = [h for h in deliveries(url, it["id"]) if h["status"] == "failed"]
        return hs if len(hs) == len(targets) else None

    done = until(all_failed, 20.0)
    got = {h["url"]: h for h in deliveries(url, it["id"])}
    for name, target in targets.items():
        h = got.get(target, {})
        check("a webhook to %s fails at once, without retries" % name,
              h.get("status") == "failed" and h.get("attempts") == 1, h)
        check("and says why (%s)" % name,
              h.get("last_error", "").startswith("refused: ")
              and h.get("last_error", "").endswith(" is not a public address"), h)
    check("the loopback address is named", "refused: 127.0.0.1 is not"
          in got.get(targets["loopback"], {}).get("last_error", ""), got)
    check("the receiver got nothing", not RECEIVED and done is not None, RECEIVED)

    # An IMAP mailbox on loopback: refused before any login.
    logins = []
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)

    def accept():
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            logins.append(1)
            c.close()

    threading.Thread(target=accept, daemon=True).start()
    must(call("PATCH", API + "/clients/%d/mail" % A, {
        "imap_url": "imaps://127.0.0.1:%d/INBOX" % lsock.getsockname()[1], "imap_user": "u",
        "imap_password": "p"}), 200, "an IMAP mailbox on loopback")
    err = until(lambda: (call("GET", API + "/clients/%d/mail" % A).get("imap_status") or {})
                .get("last_error"), 20.0) or ""
    check("the IMAP poller refuses it, naming the address",
          "127.0.0.1 is not a public address" in err, err)
    check("and never connects", not logins, logins)

    # A client's SMTP server on loopback: the reply fails at once, never sent.
    B = must(call("POST", API + "/clients", {"slug": "guard-b", "name": "Guard B", "brand": {
        "display_name": "Guard B", "from_address": "care@guard.test"}}), 201, "client B")["id"]
    must(call("PATCH", API + "/clients/%d/mail" % B, {
        "smtp_url": "smtp://127.0.0.1:%d" % lsock.getsockname()[1]}), 200,
        "an SMTP server on loopback")
    raw = ("From: Kim <kim@example.org>\r\nTo: care@guard.test\r\nSubject: Help\r\n"
           "Message-ID: <guard-1@example.org>\r\n\r\nHello?\r\n").encode()
    p = subprocess.run([BIN, "mail-ingest", "--client", "guard-b", "--db", DB], input=raw,
                       capture_output=True, timeout=60)
    iid = json.loads(p.stdout.decode().strip().splitlines()[-1])["interaction_id"] \
        if p.returncode == 0 else 0
    must(call("POST", API + "/interactions/%d/messages" % iid,
              {"direction": "outbound", "body": "Hello Kim"}), 201, "an email reply")

    def failed_mail():
        em = call("GET", API + "/interactions/%d/emails" % iid).get("items", [])
        return [e for e in em if e.get("direction") == "outbound" and e.get("status") == "failed"]

    out = until(failed_mail, 20.0) or []
    check("the reply fails at once, naming the address",
          len(out) == 1 and out[0].get("attempts") == 1
          and "refused: 127.0.0.1 is not a public address" in out[0].get("last_error", ""), out)
    check("and the SMTP server was never reached", not logins, logins)
    lsock.close()
    stop(proc)

    # The operator allows private targets: the same receiver gets the hook.
    proc, url = start_server("--allow-private-targets")
    must(call_as(ADMIN, "POST", API + "/rules", {
        "client_id": A, "name": "allowed", "event": "updated",
        "actions": [{"type": "webhook", "url": targets["loopback"]}]}, url=url), 201,
         "a rule on updates")
    must(call_as(ADMIN, "PATCH", API + "/interactions/%d" % it["id"], {"subject": "now"},
                 url=url), 200, "an update fires it")
    sent = until(lambda: [h for h in deliveries(url, it["id"]) if h["status"] == "sent"], 20.0)
    check("with --allow-private-targets the loopback receiver is reached",
          sent and RECEIVED and RECEIVED[0]["path"] == "/hook", (sent, RECEIVED))
    stop(proc)


if __name__ == "__main__":
    finish(main)

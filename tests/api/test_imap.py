#!/usr/bin/env python3
"""Polling clients' mailboxes by IMAP, end to end with the real binary and a
real Dovecot (dovecot-imapd), started here in a temporary directory on free
loopback ports with two passwd-file users and the harness's certificate.

    harness.py --bin BUILD/caredesk --store sqlite|pg -- python3 tests/api/test_imap.py

1. Settings: the IMAP URL is checked, the password is kept sealed (never
   shown, never in the SQLite file in clear), moving needs a folder.
2. Messages in a client's mailbox (imaps://) become email interactions and
   are flagged \\Seen; several polls fetch nothing twice; the status shows
   the count, the last poll and no error.
3. A second and third server on the same store (one killed mid-way) poll
   the same mailbox: each message is stored once, and whenever the mailbox
   is looked at, every message flagged \\Seen is already stored.
4. The mailbox is made again (new UIDVALIDITY) with its old messages and a
   new one: only the new one is new, nothing is stored twice.
5. A mailbox whose server accepts connections and never answers does not
   hold up another client's mailbox; its status shows the error.
6. imap:// on loopback (STARTTLS when offered) with "move": stored messages
   leave the mailbox for the folder named.

Ends with `N passed, N failed`.
"""
import http.client
import imaplib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse

import apitest
from apitest import check, until
from apitest import pair_admin as admin, pair_call as call, pair_must as must

ADMIN = os.environ["CAREDESK_ADMIN_TOKEN"]
BIN = os.environ["CAREDESK_BIN"]
DB = os.environ["CAREDESK_DB"]
KEY_FILE = os.environ["CAREDESK_KEY_FILE"]
STORE = os.environ.get("CAREDESK_STORE", "sqlite")
SRC = os.environ["CAREDESK_SRC"]
CERT = os.environ["CAREDESK_TLS_CERT"]
TLS_KEY = os.environ["CAREDESK_TLS_KEY"]
API = "/api/v1"
PASSWORD_A = "pw-Quokka-7731-imap"
PASSWORD_C = "pw-Wombat-4410-imap"


def wait_for(pred, timeout=20):
    return until(pred, timeout)




def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Dovecot:
    """A Dovecot of its own: foreground (dovecot -F -c CONFIG), stopped here."""

    USERS = {"usera": PASSWORD_A, "userc": PASSWORD_C}

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="caredesk-dovecot-")
        os.chmod(self.dir, 0o755)
        self.port, self.tls_port = free_port(), free_port()
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if os.geteuid() == 0:
            uid = gid = 65534  # mail is never accessed as root
            login_user, internal_user = "dovenull", "dovecot"
        else:
            import pwd
            uid, gid = os.getuid(), os.getgid()
            login_user = internal_user = pwd.getpwuid(uid).pw_name
        home = os.path.join(self.dir, "home")
        os.mkdir(home)
        os.chown(home, uid, gid)
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for user, pw in self.USERS.items():
                f.write("%s:{PLAIN}%s:%d:%d::%s/%s\n" % (user, pw, uid, gid, home, user))
        conf = os.path.join(self.dir, "dovecot.conf")
        with open(conf, "w") as f:
            f.write("""base_dir = {d}/run
state_dir = {d}/state
instance_name = caredesk-test-{port}
protocols = imap
listen = 127.0.0.1
log_path = {d}/dovecot.log
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir
default_login_user = {login}
default_internal_user = {internal}
passdb {{
  driver = passwd-file
  args = {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = {d}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""".format(d=self.dir, cert=CERT, key=TLS_KEY, login=login_user, internal=internal_user,
           port=self.port, tls_port=self.tls_port))
        os.chmod(CERT, 0o644)
        self.proc = subprocess.Popen([binary, "-F", "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr"), "w"))
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.tls_port), 0.2).close()
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit("dovecot did not start: " + self.log())

    def log(self):
        out = ""
        for name in ("stderr", "dovecot.log"):
            try:
                with open(os.path.join(self.dir, name)) as f:
                    out += f.read()[-3000:]
            except OSError:
                pass
        return out

    def client(self, user):
        c = imaplib.IMAP4("127.0.0.1", self.port)
        c.login(user, self.USERS[user])
        return c

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def message(n, frm="Pat Doe <pat@example.org>"):
    return ("From: %s\r\nTo: Support <support@imap.test>\r\nSubject: Question number %d\r\n"
            "Message-ID: <imap-%d@example.org>\r\nDate: Tue, 3 Nov 2026 10:15:02 +0100\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nThis is question %d.\r\n"
            % (frm, n, n, n)).encode()


def append(dc, user, folder, raws):
    c = dc.client(user)
    c.create(folder)
    for raw in raws:
        # A folder just made again while the poller reads it may need Dovecot a
        # moment to rebuild its index, or to see it made at all: try again,
        # creating it again and on a fresh connection, before calling it a
        # failure.
        for attempt in range(30):
            try:
                typ, data = c.append(folder, None, None, raw)
            except (imaplib.IMAP4.error, OSError) as e:
                typ, data = "ERR", [str(e)]
            if typ == "OK":
                break
            time.sleep(0.2)
            try:
                c.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
            c = dc.client(user)
            c.create(folder)
        assert typ == "OK", "APPEND to %s failed: %r" % (folder, data)
    c.logout()


def flags(dc, user, folder):
    """{Message-ID: flags} of the folder, read without changing anything."""
    c = dc.client(user)
    typ, count = c.select(folder, readonly=True)
    out = {}
    if typ == "OK" and int(count[0]) > 0:
        typ, data = c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        for item in data if typ == "OK" else []:
            if isinstance(item, tuple):
                mid = item[1].decode().split(":", 1)[1].strip()
                out[mid] = item[0].decode()
    c.logout()
    return out


def settings(cid):
    return must(admin("GET", API + "/clients/%d/mail" % cid), 200, "mail settings")


def status(cid):
    return admin("GET", API + "/clients/%d/mail" % cid)[1].get("imap_status") or {}


def interactions(cid):
    st, v = admin("GET", API + "/interactions?client_id=%d&limit=200" % cid)
    return v.get("items", []) if st == 200 else []


def subjects(cid):
    return sorted(i["subject"] for i in interactions(cid))


def start_server(logname):
    log = open(os.path.join(tempfile.gettempdir(), logname), "w")
    return subprocess.Popen([BIN, "serve", "--db", DB, "--listen", "127.0.0.1:0", "--web",
                             os.path.join(SRC, "web"), "--key-file", KEY_FILE],
                            stdout=subprocess.PIPE, stderr=log, text=True)


def make_client(slug):
    return must(admin("POST", API + "/clients", {"slug": slug, "name": slug.title(), "brand": {
        "display_name": slug.title(), "from_address": "care@%s.test" % slug}}), 201,
        "client " + slug)["id"]


def main(dc):
    a = make_client("imapa")
    base = "imaps://127.0.0.1:%d/" % dc.tls_port

    # 1. Settings.
    st, v = admin("PATCH", API + "/clients/%d/mail" % a, {"imap_url": "http://example.org/"})
    check("a URL that is not imap:// or imaps:// is refused", st == 422, (st, v))
    st, v = admin("PATCH", API + "/clients/%d/mail" % a, {"imap_after": "move"})
    check("moving without a folder is refused", st == 422, (st, v))
    append(dc, "usera", "Support", [message(n) for n in (1, 2, 3)])
    s = must(admin("PATCH", API + "/clients/%d/mail" % a, {
        "imap_url": base + "Support", "imap_user": "usera", "imap_password": PASSWORD_A,
        "imap_poll_seconds": 1}), 200, "configure the mailbox")
    check("the password is never shown, only that it is set",
          s.get("imap_password_set") is True and PASSWORD_A not in json.dumps(s), s)
    check("the settings show the mailbox", s.get("imap_url") == base + "Support" and
          s.get("imap_after") == "seen" and s.get("imap_poll_seconds") == 1, s)

    # 2. Messages become interactions, flagged \Seen, nothing fetched twice.
    got = wait_for(lambda: len(interactions(a)) >= 3)
    check("three messages became three email interactions", got and len(interactions(a)) == 3 and
          all(i["channel"] == "email" for i in interactions(a)), subjects(a))
    f = wait_for(lambda: (lambda f: len(f) == 3 and all("\\Seen" in x for x in f.values()) and f)(
        flags(dc, "usera", "Support")), 10)
    check("and are flagged \\Seen in the mailbox", f, flags(dc, "usera", "Support"))
    first = wait_for(lambda: status(a).get("last_poll_at") and status(a), 10)
    time.sleep(3)  # several more polls
    s = status(a)
    check("several polls fetch nothing twice", len(interactions(a)) == 3 and
          s.get("fetched") == 3 and s.get("duplicates") == 0, s)
    check("the status shows the last poll and no error",
          s.get("last_error") == "" and s.get("last_poll_at", 0) > first.get("last_poll_at", 0) and
          s.get("last_uid") == 3 and s.get("uidvalidity", 0) > 0, s)

    if STORE == "sqlite":
        data = b""
        for suffix in ("", "-wal"):
            if os.path.exists(DB + suffix):
                with open(DB + suffix, "rb") as fh:
                    data += fh.read()
        check("the password is not in the database file in clear",
              data and PASSWORD_A.encode() not in data)

    append(dc, "usera", "Support", [message(4)])
    wait_for(lambda: len(interactions(a)) == 4)

    # 3. More servers on the store, one killed mid-way: each message once.
    two = start_server("caredesk-imap-second.log")
    three = None
    try:
        two.stdout.readline()
        append(dc, "usera", "Support", [message(n) for n in range(5, 15)])
        time.sleep(0.7)
        two.send_signal(signal.SIGKILL)
        two.wait()
        three = start_server("caredesk-imap-third.log")
        three.stdout.readline()
        append(dc, "usera", "Support", [message(n) for n in range(15, 20)])
        # Sampled while they are polled: a message flagged \Seen is stored.
        samples, early = 0, []
        end = time.time() + 30
        while time.time() < end:
            fl = flags(dc, "usera", "Support")
            stored = set(subjects(a))
            samples += 1
            for mid, x in fl.items():
                n = int(mid.split("-")[1].split("@")[0])
                if "\\Seen" in x and "Question number %d" % n not in stored:
                    early.append(n)
            if len(stored) >= 19 and status(a).get("last_uid") == 19:
                break
        check("a message is flagged \\Seen only once it is stored (%d samples)" % samples,
              samples > 1 and not early, early)
        time.sleep(2)
        subj = subjects(a)
        check("three servers, one killed: each of 19 messages stored once",
              len(subj) == 19 and len(set(subj)) == 19, subj)
        s = status(a)
        check("and every message up to the last is done",
              s.get("last_uid") == 19 and s.get("fetched") - s.get("duplicates") == 19, s)
    finally:
        for p in (two, three):
            if p and p.poll() is None:
                p.terminate()
                p.wait(timeout=15)

    # 4. A new UIDVALIDITY: the mailbox made again, its messages in it again.
    before = status(a)
    c = dc.client("usera")
    c.select("INBOX")
    c.delete("Support")
    c.logout()
    append(dc, "usera", "Support", [message(n) for n in (1, 2, 3, 20)])
    ok = wait_for(lambda: status(a).get("uidvalidity") != before.get("uidvalidity") and
                  status(a).get("last_uid") == 4 and len(interactions(a)) >= 20, 20)
    subj = subjects(a)
    s = status(a)
    check("after a UIDVALIDITY change only the new message is new", ok and len(subj) == 20 and
          len(set(subj)) == 20, (subj, s))
    check("the old ones were read again as duplicates",
          s.get("duplicates", 0) - before.get("duplicates", 0) == 3, (before, s))
    f = flags(dc, "usera", "Support")
    check("and all are flagged \\Seen again", len(f) == 4 and
          all("\\Seen" in x for x in f.values()), f)

    # 5. A mailbox that never answers does not hold up the others.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    b = make_client("imapb")
    must(admin("PATCH", API + "/clients/%d/mail" % b, {
        "imap_url": "imaps://127.0.0.1:%d/INBOX" % silent.getsockname()[1],
        "imap_user": "nobody", "imap_password": "x", "imap_poll_seconds": 1}), 200,
        "a mailbox on a server that never answers")
    wait_for(lambda: status(b).get("polling"), 10)
    t0 = time.time()
    append(dc, "usera", "Support", [message(21)])
    ok = wait_for(lambda: len(interactions(a)) == 21, 15)
    check("while it hangs, the other mailbox is still polled (%.1f s)" % (time.time() - t0),
          ok and time.time() - t0 < 8, (subjects(a), status(b)))
    err = wait_for(lambda: status(b).get("last_error"), 30)
    check("the silent mailbox's status shows the error", err and "127.0.0.1" in err, status(b))
    silent.close()

    # 6. imap:// with STARTTLS, messages moved once stored.
    cc = make_client("imapc")
    append(dc, "userc", "INBOX", [message(n, "Lee <lee@example.org>") for n in (31, 32)])
    append(dc, "userc", "Done", [])
    must(admin("PATCH", API + "/clients/%d/mail" % cc, {
        "imap_url": "imap://127.0.0.1:%d/INBOX" % dc.port, "imap_user": "userc",
        "imap_password": PASSWORD_C, "imap_after": "move", "imap_move_to": "Done",
        "imap_poll_seconds": 1}), 200, "a mailbox by imap:// that moves")
    ok = wait_for(lambda: len(interactions(cc)) == 2 and not flags(dc, "userc", "INBOX") and
                  len(flags(dc, "userc", "Done")) == 2)
    check("stored messages are moved to the folder", ok,
          (subjects(cc), flags(dc, "userc", "INBOX"), flags(dc, "userc", "Done"), status(cc)))

    # 7. Without a key file no password is stored; keys rotate seals it again.
    env = {k: v for k, v in os.environ.items() if k != "CAREDESK_KEY_FILE"}
    log = open(os.path.join(tempfile.gettempdir(), "caredesk-imap-nokey.log"), "w")
    # (In a directory of its own: no var/caredesk.key to pick up by default.)
    bare = subprocess.Popen([BIN, "serve", "--db", DB, "--listen", "127.0.0.1:0", "--web",
                             os.path.join(SRC, "web")],
                            stdout=subprocess.PIPE, stderr=log, text=True, env=env,
                            cwd=tempfile.mkdtemp())
    try:
        line = bare.stdout.readline().strip()
        if line.startswith("listening on "):
            u = urllib.parse.urlsplit(line[len("listening on "):])
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            c.request("PATCH", API + "/clients/%d/mail" % cc,
                      json.dumps({"imap_password": "another-one"}),
                      {"Authorization": "Bearer " + ADMIN, "Content-Type": "application/json"})
            r = c.getresponse()
            body = r.read().decode()
            check("without a key file a password is refused, saying why",
                  r.status == 409 and "key file" in body, (r.status, body))
        else:
            check("a server without a key file starts", False, line)
    finally:
        bare.terminate()
        bare.wait(timeout=15)
    p = subprocess.run([BIN, "keys", "rotate", "--db", DB, "--key-file", KEY_FILE, "--drop-old"],
                       capture_output=True, text=True)
    check("keys rotate seals the IMAP passwords again", p.returncode == 0, p.stderr)
    if STORE == "sqlite":
        import sqlite3
        with open(KEY_FILE) as fh:
            active = fh.read().split("\n")[-2].split()[1]
        db = sqlite3.connect(DB, timeout=10)
        sealed = [r[0] for r in db.execute(
            "SELECT imap_password FROM mail_settings WHERE imap_password <> ''")]
        db.close()
        check("every IMAP password is sealed with the new key",
              len(sealed) == 3 and all(x.startswith("v1:%s:" % active) for x in sealed),
              (active, [x[:12] for x in sealed]))

    with open(os.environ["CAREDESK_LOG"], errors="replace") as fh:
        log = fh.read()
    check("no password in the server's log", PASSWORD_A not in log and PASSWORD_C not in log)


def run():
    dovecot = Dovecot()
    try:
        main(dovecot)
    except Exception as e:  # noqa: BLE001 - report, then stop Dovecot
        check("no exception", False, repr(e))
    finally:
        if apitest.failures():
            print("dovecot log:\n" + dovecot.log())
        dovecot.stop()


if __name__ == "__main__":
    apitest.finish(run)

#!/usr/bin/env python3
"""The email channel, end to end with the real binary.

    harness.py --bin BUILD/caredesk --store sqlite|pg -- python3 tests/api/test_email.py

1. Ingest through `caredesk mail-ingest` (the MTA pipe) into the store the
   server uses: a new message starts an email interaction for the customer
   found (or made) by the sender's address; its quoted history is kept apart
   from the new text; the same message delivered again is stored once;
   replies thread by In-Reply-To, by References and by the subject token (only
   when the sender takes part; a stranger's token starts a new interaction).
2. Card numbers in a message's text, quoted history and raw copy are masked
   before storage (SQLite: the file and WAL are scanned).
3. Attachments over the client's size limit are listed but not kept; a
   bounce is recorded, not opened as an interaction; unknown clients and
   empty input get the sysexits an MTA understands.
4. Out, with a real SMTP server (aiosmtpd, started here): an agent's reply
   goes out once with the brand's From and signature, our Message-ID,
   In-Reply-To, References and the subject token, and the customer's answer
   to it threads back; the status is visible per email; the automatic
   acknowledgement carries Auto-Submitted, is never sent to automatic mail
   and is rate-limited per sender; a refused recipient fails with the
   reason; a server that is down is retried with backoff until it is up;
   with two servers on one store every email is sent exactly once.

Ends with `N passed, N failed`.
"""
import email
import email.policy
import json
import os
import socket
import subprocess
import sys
import time

import apitest
from apitest import check, until
from apitest import pair_admin as admin, pair_call as call, pair_must as must

BIN = os.environ["CAREDESK_BIN"]
DB = os.environ["CAREDESK_DB"]
KEY_FILE = os.environ["CAREDESK_KEY_FILE"]
STORE = os.environ.get("CAREDESK_STORE", "sqlite")
SRC = os.environ["CAREDESK_SRC"]
API = "/api/v1"


def wait_for(pred, timeout=15):
    return until(pred, timeout)


def ingest(slug, raw):
    """Runs mail-ingest; retries while it answers 75 (store busy)."""
    if isinstance(raw, str):
        raw = raw.replace("\n", "\r\n").encode()
    for _ in range(20):
        p = subprocess.run([BIN, "mail-ingest", "--client", slug, "--db", DB, "--key-file",
                            KEY_FILE], input=raw, capture_output=True, timeout=60)
        if p.returncode != 75:
            break
        time.sleep(0.2)
    out = {}
    if p.returncode == 0:
        out = json.loads(p.stdout.decode().strip().splitlines()[-1])
    return p.returncode, out, p.stderr.decode()


def mail(mid, subject, body, frm="Maria Lopez <maria@example.org>", extra=""):
    return ("From: %s\nTo: Support <support@mail.test>\nSubject: %s\nMessage-ID: <%s>\n"
            "Date: Tue, 3 Nov 2026 10:15:02 +0100\n%sContent-Type: text/plain; charset=utf-8\n\n%s\n"
            % (frm, subject, mid, extra, body))


def messages(iid):
    return must(admin("GET", API + "/interactions/%d/messages" % iid), 200, "messages")["items"]


def main():
    c = must(admin("POST", API + "/clients", {"slug": "mailco", "name": "Mail Co", "brand": {
        "display_name": "Mail Co Care", "from_address": "care@mail.test",
        "signature": "-- Mail Co Care"}}), 201, "client")
    cid = c["id"]
    s = must(admin("GET", API + "/clients/%d/mail" % cid), 200, "default mail settings")
    check("ticket prefix defaults to the slug", s.get("ticket_prefix") == "MAILCO", s)
    s = must(admin("PATCH", API + "/clients/%d/mail" % cid, {"ticket_prefix": "MC"}), 200,
             "set the ticket prefix")
    check("ticket prefix set", s.get("ticket_prefix") == "MC", s)
    st, v = admin("PATCH", API + "/clients/%d/mail" % cid, {"ticket_prefix": "m c"})
    check("a bad ticket prefix is refused", st == 422, (st, v))

    # 1. New message, then the same again.
    first = mail("m1@example.org", "Meter reading",
                 "The reading is 04512.\n\nOn Mon, Nov 2, 2026 at 4:01 PM Support wrote:\n"
                 "> please send the reading")
    rc, out, err = ingest("mailco", first)
    check("mail-ingest stores a new message (exit 0)", rc == 0 and out.get("outcome") == "created",
          (rc, out, err))
    iid = out.get("interaction_id")
    it = must(admin("GET", API + "/interactions/%d" % iid), 200, "the new interaction")
    check("it is an email interaction with the subject", it["channel"] == "email"
          and it["subject"] == "Meter reading", it)
    cust = must(admin("GET", API + "/customers/%d" % it["customer_id"]), 200, "its customer")
    check("the customer was made from the sender", cust["name"] == "Maria Lopez" and
          any(i["kind"] == "email" and i["value"] == "maria@example.org"
              for i in cust["identities"]), cust)
    ms = messages(iid)
    check("the new text is the inbound message, without the quote",
          len(ms) == 1 and ms[0]["direction"] == "inbound" and
          ms[0]["body"] == "The reading is 04512.", ms)
    em = must(admin("GET", API + "/interactions/%d/emails" % iid), 200, "emails")["items"]
    check("the email keeps the quoted history apart",
          len(em) == 1 and em[0]["quoted"].startswith("On Mon, Nov 2") and
          em[0]["rfc_message_id"] == "m1@example.org" and em[0]["status"] == "received", em)
    rc, out, _ = ingest("mailco", first)
    check("the same message delivered again is stored once", rc == 0 and
          out.get("outcome") == "duplicate" and len(messages(iid)) == 1, out)

    # Threading.
    rc, out, _ = ingest("mailco", mail("m2@example.org", "Re: Meter reading", "Friday works.",
                                       extra="In-Reply-To: <m1@example.org>\n"))
    check("a reply threads by In-Reply-To", out.get("outcome") == "threaded" and
          out.get("interaction_id") == iid and out.get("matched_by") == "in-reply-to", out)
    rc, out, _ = ingest("mailco", mail("m3@example.org", "Re: Meter reading", "And Saturday?",
                                       extra="References: <zz@elsewhere> <m2@example.org>\n"
                                             "In-Reply-To: <unknown@example.org>\n"))
    check("a reply threads by References", out.get("outcome") == "threaded" and
          out.get("interaction_id") == iid and out.get("matched_by") == "references", out)
    rc, out, _ = ingest("mailco", mail("m4@example.org", "Re: [MC-%d] Meter" % iid, "Token!"))
    check("a participant's subject token threads", out.get("outcome") == "threaded" and
          out.get("interaction_id") == iid and out.get("matched_by") == "subject", out)
    rc, out, _ = ingest("mailco", mail("m5@example.org", "Re: [MC-%d] Meter" % iid, "Me too",
                                       frm="Eve <eve@example.net>"))
    check("a stranger's subject token starts a new interaction",
          out.get("outcome") == "created" and out.get("interaction_id") != iid, out)
    check("the thread holds four inbound messages", len(messages(iid)) == 4, messages(iid))

    # 2. Cards never stored.
    card = "4111 1111 1111 1111"
    rc, out, _ = ingest("mailco", mail("m6@example.org", "Card", "Pay with %s please\n\n"
                                       "On Mon, Nov 2, 2026 Support wrote:\n> card 5555 5555 5555 4444"
                                       % card))
    ms = messages(out["interaction_id"])
    check("the card in the text is masked", ms[0]["body"] == "Pay with **** **** **** 1111 please",
          ms)
    em = must(admin("GET", API + "/interactions/%d/emails" % out["interaction_id"]), 200,
              "emails")["items"]
    check("the card in the quoted history is masked", "**** **** **** 4444" in em[0]["quoted"], em)
    if STORE == "sqlite":
        blob = b""
        for f in (DB, DB + "-wal"):
            if os.path.exists(f):
                blob += open(f, "rb").read()
        check("no card number in the database file or its WAL",
              b"4111 1111 1111 1111" not in blob and b"5555 5555 5555 4444" not in blob
              and b"4111111111111111" not in blob)

    # 3. Attachments over the limit, bounces, exit codes.
    must(admin("PATCH", API + "/clients/%d/mail" % cid, {"max_attachment_bytes": 100}), 200,
         "attachment limit")
    big = "A" * 400
    raw = ("From: maria@example.org\nTo: support@mail.test\nSubject: files\nMessage-ID: <m7@x>\n"
           "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n--B\n"
           "Content-Type: text/plain\n\nTwo files.\n--B\nContent-Type: text/plain\n"
           "Content-Disposition: attachment; filename=small.txt\n\nsmall\n--B\n"
           "Content-Type: application/octet-stream\nContent-Disposition: attachment; "
           "filename=big.bin\n\n%s\n--B\nContent-Type: text/plain\n"
           "Content-Disposition: attachment; filename=card-4012888888881881.txt\n\nx\n--B--\n"
           % big)
    rc, out, _ = ingest("mailco", raw)
    em = must(admin("GET", API + "/interactions/%d/emails" % out["interaction_id"]), 200,
              "emails")["items"]
    atts = {a["filename"]: a for a in em[0]["attachments"]}
    check("attachments within the limit are kept, larger ones listed only",
          atts.get("small.txt", {}).get("kept") is True and
          atts.get("big.bin", {}).get("kept") is False, atts)
    check("a card number in an attachment's name is masked",
          "card-************1881.txt" in atts and not any("401288888888" in n for n in atts), atts)
    st, ev = admin("GET", API + "/interactions/%d/events" % out["interaction_id"])
    check("an attachments_over_limit event says so",
          any(e["kind"] == "attachments_over_limit" for e in ev.get("items", [])), ev)
    before = must(admin("GET", API + "/interactions?client_id=%d&limit=100" % cid), 200,
                  "list")["items"]
    with open(os.path.join(SRC, "tests/mail/corpus/dsn_ours.eml"), "rb") as f:
        rc, out, _ = ingest("mailco", f.read())
    after = must(admin("GET", API + "/interactions?client_id=%d&limit=100" % cid), 200,
                 "list")["items"]
    check("a bounce is recorded, not opened as an interaction",
          rc == 0 and out.get("outcome") == "bounce" and len(before) == len(after), out)
    rc, _, err = ingest("no-such-client", first)
    check("an unknown client exits 67", rc == 67, (rc, err))
    rc, _, err = ingest("mailco", b"")
    check("empty input exits 65", rc == 65, (rc, err))
    with open(os.path.join(SRC, "tests/mail/corpus/binary.eml"), "rb") as f:
        rc, out, err = ingest("mailco", f.read())
    check("binary junk is still kept (exit 0)", rc == 0, (rc, out, err))

    # Tenant walls: another client's agent sees none of it.
    other = must(admin("POST", API + "/clients", {"slug": "othermail", "name": "Other"}), 201,
                 "other client")
    must(admin("POST", API + "/users", {"email": "o@mail.test", "name": "O", "role": "agent",
                                        "password": "mail-pass-123", "clients": [other["id"]]}),
         201, "agent of the other client")
    tok = subprocess.run([BIN, "token", "create", "--db", DB, "--email", "o@mail.test"],
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    st, _ = call(tok, "GET", API + "/interactions/%d/emails" % iid)
    check("another client's agent gets 404 for the emails", st == 404, st)
    st, _ = call(tok, "GET", API + "/clients/%d/mail" % cid)
    check("and for the mail settings", st == 404, st)

    sending(cid, iid)


class Sink:
    """A real SMTP server on a loopback port, collecting what it receives."""

    def __init__(self):
        try:
            from aiosmtpd.controller import Controller
        except ImportError:  # a Python other than Debian's runs the tests
            sys.path.append("/usr/lib/python3/dist-packages")
            from aiosmtpd.controller import Controller
        self.got = []
        self.refuse = set()
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.ctl = Controller(self, hostname="127.0.0.1", port=self.port)
        self.ctl.start()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 <%s>: no such user" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.got.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 OK"

    def stop(self):
        self.ctl.stop()




def emails(iid):
    return must(admin("GET", API + "/interactions/%d/emails" % iid), 200, "emails")["items"]


def outbound(iid):
    return [e for e in emails(iid) if e["direction"] == "outbound"]


def sending(cid, iid):
    sink = Sink()
    try:
        send_tests(sink, cid, iid)
    finally:
        sink.stop()


def send_tests(sink, cid, iid):
    url = "smtp://127.0.0.1:%d" % sink.port
    must(admin("PATCH", API + "/clients/%d/mail" % cid, {"smtp_url": url}), 200, "smtp_url")
    must(admin("POST", API + "/interactions/%d/messages" % iid,
               {"direction": "outbound", "body": "We will come on Friday."}), 201, "agent reply")
    got = wait_for(lambda: sink.got)
    check("the reply reaches the SMTP server", len(got) == 1, got)
    if got:
        frm, rcpt, msg = got[0]
        check("to the customer, from the brand", rcpt == ["maria@example.org"] and
              frm == "care@mail.test" and str(msg["From"]) == "Mail Co Care <care@mail.test>",
              (frm, rcpt, str(msg["From"])))
        check("with the subject token", str(msg["Subject"]) == "Re: [MC-%d] Meter reading" % iid,
              str(msg["Subject"]))
        check("answering the latest inbound email", str(msg["In-Reply-To"]) == "<m4@example.org>"
              and "<m4@example.org>" in str(msg["References"]), (msg["In-Reply-To"],
                                                                  msg["References"]))
        mid = str(msg["Message-ID"])
        check("with a Message-ID of ours", mid.startswith("<cd.%d." % iid), mid)
        body = msg.get_body(("plain",)).get_content()
        check("the text and the brand's signature", "We will come on Friday." in body and
              "-- Mail Co Care" in body, body)
        check("a reply is not marked automatic", msg["Auto-Submitted"] is None)
        out = wait_for(lambda: [e for e in outbound(iid) if e["status"] == "sent"])
        check("its status is sent in the API", len(out) == 1 and out[0]["attempts"] == 1, out)
        rc, res, _ = ingest("mailco", mail("m8@example.org", "Re: Meter", "Thanks!",
                                           extra="In-Reply-To: %s\n" % mid))
        check("the customer's answer to it threads back", res.get("interaction_id") == iid and
              res.get("matched_by") == "in-reply-to", res)

    # Automatic acknowledgements.
    must(admin("PATCH", API + "/clients/%d/mail" % cid,
               {"auto_ack": True, "auto_ack_per_hour": 2}), 200, "auto_ack on")
    del sink.got[:]
    for k in range(3):
        rc, res, _ = ingest("mailco", mail("bob%d@example.com" % k, "Question %d" % k, "Hello",
                                           frm="Bob <bob@example.com>"))
    with open(os.path.join(SRC, "tests/mail/corpus/autoreply.eml"), "rb") as f:
        ingest("mailco", f.read())
    with open(os.path.join(SRC, "tests/mail/corpus/list.eml"), "rb") as f:
        ingest("mailco", f.read())
    wait_for(lambda: len(sink.got) >= 2)
    time.sleep(1.5)
    acks = [g for g in sink.got]
    check("two acknowledgements for three messages from one sender in an hour",
          len(acks) == 2 and all(g[1] == ["bob@example.com"] for g in acks),
          [(g[1], str(g[2]["Subject"])) for g in acks])
    check("acknowledgements say Auto-Submitted: auto-replied",
          all(str(g[2]["Auto-Submitted"]) == "auto-replied" for g in acks))
    check("none to an auto-reply or a mailing list",
          not any(g[1] in (["kim@example.com"], ["news@shop.example"]) for g in acks))

    # A satisfaction survey when an email interaction is resolved.
    must(admin("PATCH", API + "/clients/%d/mail" % cid,
               {"auto_ack": False, "survey": True, "survey_text": "Rate us 1-5, please."}), 200,
         "survey on")
    del sink.got[:]
    rc, res, _ = ingest("mailco", mail("survey1@example.com", "Survey me", "Hello",
                                       frm="Sam <sam.survey@example.com>"))
    sid = res.get("interaction_id")
    must(admin("PATCH", API + "/interactions/%d" % sid, {"status": "resolved"}), 200, "resolve")
    got = wait_for(lambda: [g for g in sink.got if g[1] == ["sam.survey@example.com"]])
    check("resolving an email interaction emails the survey, marked automatic",
          got and "Rate us 1-5, please." in got[0][2].get_body().get_content()
          and str(got[0][2]["Auto-Submitted"]) == "auto-replied"
          and any(e.get("kind") == "survey" for e in outbound(sid)),
          [(g[1], str(g[2]["Subject"])) for g in sink.got])
    must(admin("PATCH", API + "/clients/%d/mail" % cid, {"survey": False}), 200, "survey off")

    # A refused recipient fails for good, with the reason.
    must(admin("PATCH", API + "/clients/%d/mail" % cid, {"auto_ack": False}), 200, "auto_ack off")
    sink.refuse.add("nobody@example.com")
    rc, res, _ = ingest("mailco", mail("n1@example.com", "Hi", "Hello",
                                       frm="Nobody <nobody@example.com>"))
    niid = res["interaction_id"]
    must(admin("POST", API + "/interactions/%d/messages" % niid,
               {"direction": "outbound", "body": "Hello back"}), 201, "reply to a refused address")
    out = wait_for(lambda: [e for e in outbound(niid) if e["status"] == "failed"])
    check("a refused recipient fails with the reason", len(out) == 1 and
          "550" in out[0]["last_error"], outbound(niid))

    # A server that is down: queued again with the reason, sent once it is up.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    must(admin("PATCH", API + "/clients/%d/mail" % cid, {"smtp_url": "smtp://127.0.0.1:%d" % dead}),
         200, "smtp_url to a closed port")
    del sink.got[:]
    must(admin("POST", API + "/interactions/%d/messages" % iid,
               {"direction": "outbound", "body": "Second try."}), 201, "reply while down")
    out = wait_for(lambda: [e for e in outbound(iid) if e["status"] == "queued" and
                            e["attempts"] >= 2 and e["last_error"]])
    check("while the server is down the email stays queued, retried, with the reason",
          len(out) == 1, outbound(iid))
    must(admin("PATCH", API + "/clients/%d/mail" % cid, {"smtp_url": url}), 200, "server back")
    out = wait_for(lambda: len([e for e in outbound(iid) if e["status"] == "sent"]) == 2 and
                   [e for e in outbound(iid) if e["status"] == "sent"], 20)
    check("once the server is up it is sent, once", len(out) == 2 and len(sink.got) == 1,
          (outbound(iid), len(sink.got)))

    # Two servers on one store: each email exactly once.
    log = open(os.path.join(os.path.dirname(DB) if STORE == "sqlite" else "/tmp",
                            "second-server.log"), "w")
    srv = subprocess.Popen([BIN, "serve", "--db", DB, "--listen", "127.0.0.1:0", "--web",
                            os.path.join(SRC, "web"), "--key-file", KEY_FILE],
                           stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        srv.stdout.readline()
        del sink.got[:]
        for k in range(12):
            must(admin("POST", API + "/interactions/%d/messages" % iid,
                       {"direction": "outbound", "body": "Update %d" % k}), 201, "reply %d" % k)
        wait_for(lambda: len([e for e in outbound(iid) if e["status"] == "sent"]) == 14, 30)
        time.sleep(1.5)
        ids = [str(g[2]["Message-ID"]) for g in sink.got]
        check("two servers send each of 12 emails exactly once",
              len(ids) == 12 and len(set(ids)) == 12, sorted(ids))
    finally:
        srv.terminate()
        srv.wait(timeout=15)


if __name__ == "__main__":
    apitest.finish(main)

#!/usr/bin/env python3
"""The knowledge base over the API: articles, versions, search, suggestions.

    harness.py --bin BUILD/caredesk --store sqlite|pg -- python3 tests/api/test_knowledge.py

Articles per client with versions; only published ones are searchable;
search stems, ranks titles higher, takes phrases, prefixes, tag and
audience filters, highlights matches in HTML-escaped snippets, and never
crosses clients; suggestions for an interaction come from its text, and
agents' feedback is stored. On PostgreSQL a second server on the same
database keeps its own index current with the first one's writes.

Ends with `N passed, N failed`.
"""
import os
import subprocess

from apitest import API, check, finish, must, until, call

URL = os.environ["CAREDESK_URL"]
ADMIN = os.environ["CAREDESK_ADMIN_TOKEN"]
BIN = os.environ["CAREDESK_BIN"]
DB = os.environ["CAREDESK_DB"]
SRC = os.environ["CAREDESK_SRC"]
STORE = os.environ.get("CAREDESK_STORE", "sqlite")









def search(token, client, q, url=URL, **kw):
    return call(token, "GET", API + "/kb/search", url=url,
                query=dict({"client_id": client, "q": q}, **kw))


def ids(r):
    return [h["article_id"] for h in r.get("items", [])]




def user(email, role, clients):
    must(call(ADMIN, "POST", API + "/users", {"email": email, "name": email.split("@")[0],
                                              "role": role, "password": "kb-password-1",
                                              "clients": clients}), 201, "user " + email)
    r = subprocess.run([BIN, "token", "create", "--db", DB, "--email", email],
                       capture_output=True, text=True, timeout=60)
    return r.stdout.strip().splitlines()[-1]


def main():
    A = must(call(ADMIN, "POST", API + "/clients", {"slug": "kb-a", "name": "KB A"}), 201,
             "client A")["id"]
    B = must(call(ADMIN, "POST", API + "/clients", {"slug": "kb-b", "name": "KB B"}), 201,
             "client B")["id"]
    agentA = user("agent@kb-a.test", "agent", [A])
    supA = user("sup@kb-a.test", "supervisor", [A])

    def art(client, title, body, **kw):
        doc = dict({"client_id": client, "title": title, "body": body, "status": "published"},
                   **kw)
        return must(call(supA if client == A else ADMIN, "POST", API + "/articles", doc), 201,
                    "article '%s'" % title)["id"]

    r = call(agentA, "POST", API + "/articles", {"client_id": A, "title": "x"})
    check("agents may not write articles", r.status == 403, dict(r))
    refund = art(A, "Refunds for a double charge",
                 "If a customer was charged twice, refund the second payment. Refunds take "
                 "3-5 working days to reach the card.", tags=["billing", "refund"])
    router = art(A, "Resetting your router",
                 "Hold the reset button for **ten seconds** until the lights flash. "
                 "Then wait for the router to restart.", tags=["internet"], audience="public")
    billing = art(A, "Reading your bill", "Your bill shows the refund line when a refund "
                  "was applied. <script>alert(1)</script> & more.", tags=["billing"])
    draft = art(A, "Refund policy draft", "Refund refund refund.", status="draft")
    other = art(B, "Refunds for a double charge",
                "If a customer was charged twice, refund the second payment.")

    # The index follows the store: wait until every published article is in.
    until(lambda: {refund, billing} <= set(ids(search(agentA, A, "refund")))
          and router in ids(search(agentA, A, "router")))
    got = ids(search(agentA, A, "refund"))
    check("search finds published articles, the title match first",
          got[:1] == [refund] and billing in got, got)
    check("drafts are not searchable", draft not in got, got)
    check("another client's identical article is never found", other not in got, got)
    check("stemming: 'refunded' finds 'refunds'", refund in ids(search(agentA, A, "refunded")))
    check("all words must match", ids(search(agentA, A, "router refund")) == [])
    check("a phrase matches words in order", ids(search(agentA, A, '"reset button"')) == [router]
          and ids(search(agentA, A, '"button reset"')) == [])
    check("a prefix matches", router in ids(search(agentA, A, "rout*")))
    check("tag filter", ids(search(agentA, A, "refund", tag="refund")) == [refund])
    check("audience filter", ids(search(agentA, A, "router", audience="public")) == [router]
          and ids(search(agentA, A, "router", audience="internal")) == [])
    hit = [h for h in search(agentA, A, "refund").get("items", []) if h["article_id"] == billing]
    snip = hit[0]["snippet"] if hit else ""
    check("snippets highlight matches and escape HTML",
          "<mark>refund</mark>" in snip and "&lt;script&gt;" in snip and "<script>" not in snip,
          snip)
    r = search(agentA, B, "refund")
    check("searching another client's articles answers 404", r.status == 404, dict(r))
    r = search(agentA, A, "")
    check("an empty query is refused", r.status == 422, dict(r))
    r = search(agentA, A, "   ")
    check("a blank query is refused", r.status == 422, dict(r))
    r = search(agentA, A, "\u00ff" * 300 + " \x01 refund")
    check("hostile query text is harmless", r.status == 200, dict(r))

    # Versions and archiving.
    r = must(call(supA, "PATCH", API + "/articles/%d" % router,
                  {"title": "Restarting your router", "version": 1}), 200, "rename")
    check("a change makes version 2", r.get("version") == 2, dict(r))
    r = call(supA, "PATCH", API + "/articles/%d" % router, {"title": "x", "version": 1})
    check("a stale version is refused", r.status == 409, dict(r))
    v = call(agentA, "GET", API + "/articles/%d/versions" % router)
    check("both versions are kept", [x["version"] for x in v.get("items", [])] == [2, 1]
          and v["items"][1]["title"] == "Resetting your router", v)
    check("the index follows the new title",
          until(lambda: router in ids(search(agentA, A, "restarting"))))
    must(call(supA, "PATCH", API + "/articles/%d" % billing, {"status": "archived"}), 200,
         "archive")
    check("an archived article leaves the index",
          until(lambda: billing not in ids(search(agentA, A, "refund"))))

    # Suggestions for an interaction, and feedback.
    it = must(call(agentA, "POST", API + "/interactions", {
        "client_id": A, "channel": "email", "subject": "Charged twice",
        "message": {"direction": "inbound",
                    "body": "Hello, I was charged twice this month and want a refund."}}), 201,
        "interaction")["id"]
    sug = call(agentA, "GET", API + "/interactions/%d/suggestions" % it)
    check("suggestions come from the interaction's text", ids(sug)[:1] == [refund], dict(sug))
    fb = call(agentA, "POST", API + "/interactions/%d/suggestions/%d/feedback" % (it, refund),
              {"helpful": True})
    check("feedback on a suggestion is stored", fb.status == 201 and fb.get("helpful") is True,
          dict(fb))
    fb = call(agentA, "POST", API + "/interactions/%d/suggestions/%d/feedback" % (it, other),
              {"helpful": True})
    check("feedback naming another client's article answers 404", fb.status == 404, dict(fb))

    if STORE != "pg":
        return
    # A second server on the same database keeps its own index current.
    srv = subprocess.Popen([BIN, "serve", "--db", DB, "--listen", "127.0.0.1:0", "--quiet",
                            "--web", os.path.join(SRC, "web")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        url2 = srv.stdout.readline().strip()[len("listening on "):]
        check("the second server built its index from the store",
              until(lambda: refund in ids(search(agentA, A, "refund", url=url2))))
        new = art(A, "Moving house", "Tell us your moving date and we close the account.")
        check("a write through the first server reaches the second server's index",
              until(lambda: new in ids(search(agentA, A, "moving", url=url2)), 5.0))
    finally:
        srv.terminate()
        srv.wait(timeout=15)


if __name__ == "__main__":
    finish(main)

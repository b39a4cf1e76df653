#!/usr/bin/env python3
"""Runs a test command against a real caredesk server.

    harness.py --bin BUILD/caredesk --store sqlite|pg [--demo] -- CMD...

Creates a fresh store (a SQLite file, or a throwaway PostgreSQL cluster
started with tests/pg/cluster.sh), adds an admin with an API token, seeds
the demo if asked, starts `caredesk serve` on a free loopback port and runs
CMD with these in its environment:

    CAREDESK_URL          http://127.0.0.1:PORT
    CAREDESK_ADMIN_TOKEN  bearer token of an admin
    CAREDESK_BIN, CAREDESK_DB, CAREDESK_SRC, CAREDESK_STORE
    CAREDESK_KEY_FILE     the key file the server was started with
    CAREDESK_LOG          the server's log file
    CAREDESK_PGDIR        the PostgreSQL cluster's directory (pg only)
    CAREDESK_TLS_CERT, CAREDESK_TLS_KEY
                          a certificate for 127.0.0.1 the servers trust for webhooks

Afterwards it stops the server with SIGTERM and fails unless the server
exits cleanly (status 0) within 15 s. Exit status: CMD's, or 1.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

SRC = os.environ.get("CAREDESK_SRC") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_EMAIL = "root@harness.test"
ADMIN_PASSWORD = "harness-password"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout


def start_pg(tmp):
    pgdir = tempfile.mkdtemp(prefix="caredesk-pg-")
    url = run(["bash", os.path.join(SRC, "tests/pg/cluster.sh"), "start", pgdir]).strip()
    return pgdir, url


def make_tls(tmp):
    """A self-signed certificate for 127.0.0.1 (webhook receivers in tests)."""
    cert, key = os.path.join(tmp, "tls-cert.pem"), os.path.join(tmp, "tls-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def start_server(binary, db, log_path, key_file):
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [binary, "serve", "--db", db, "--listen", "127.0.0.1:0", "--web", os.path.join(SRC, "web"),
         "--key-file", key_file],
        stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError("server did not start: %r" % line)
    url = line[len("listening on "):]
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2).read()
            return proc, url
        except Exception:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server does not answer /healthz")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--store", choices=["sqlite", "pg"], default="sqlite")
    ap.add_argument("--demo", action="store_true")
    ap.add_argument("--no-server", action="store_true",
                    help="prepare the store only; CMD starts its own servers")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    binary = os.path.abspath(args.bin)

    tmp = tempfile.mkdtemp(prefix="caredesk-test-")
    pgdir = None
    proc = None
    status = 1
    try:
        if args.store == "pg":
            pgdir, db = start_pg(tmp)
        else:
            db = os.path.join(tmp, "caredesk.db")
        run([binary, "user", "add", "--db", db, "--email", ADMIN_EMAIL, "--role", "admin",
             "--name", "Harness Admin", "--password", ADMIN_PASSWORD])
        token = run([binary, "token", "create", "--db", db, "--email", ADMIN_EMAIL]).strip()
        key_file = os.path.join(tmp, "caredesk.key")
        run([binary, "keys", "init", "--key-file", key_file])
        tls_cert, tls_key = make_tls(tmp)
        # Servers started from here on trust it for webhooks, and retry fast.
        os.environ["CAREDESK_WEBHOOK_CA"] = tls_cert
        os.environ["CAREDESK_WEBHOOK_RETRY_MS"] = "200"
        # The tests' receivers and mail servers run on this machine.
        os.environ["CAREDESK_ALLOW_PRIVATE_TARGETS"] = "1"
        os.environ["CAREDESK_AUTOMATION_POLL_MS"] = "200"
        if args.demo:
            run([binary, "demo", "--db", db, "--flows", os.path.join(SRC, "flows"), "--key-file",
                 key_file])
        log_path = os.path.join(tmp, "server.log")
        env = dict(os.environ, CAREDESK_ADMIN_TOKEN=token, CAREDESK_BIN=binary, CAREDESK_DB=db,
                   CAREDESK_SRC=SRC, CAREDESK_STORE=args.store, CAREDESK_KEY_FILE=key_file,
                   CAREDESK_LOG=log_path, CAREDESK_PGDIR=pgdir or "",
                   CAREDESK_TLS_CERT=tls_cert, CAREDESK_TLS_KEY=tls_key)
        if args.no_server:
            return subprocess.call(cmd, env=env)
        proc, url = start_server(binary, db, log_path, key_file)
        env["CAREDESK_URL"] = url
        status = subprocess.call(cmd, env=env)
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = "hung"
        if code != 0:
            print("harness: server did not shut down cleanly on SIGTERM (exit %s)" % code)
            status = status or 1
        if status:
            print("harness: last lines of the server log:")
            with open(log_path) as f:
                sys.stdout.write("".join(f.readlines()[-40:]))
    except (subprocess.CalledProcessError, RuntimeError) as e:
        print("harness: setup failed: %s" % e)
        status = 1
    finally:
        if proc and proc.poll() is None:
            proc.kill()
        if pgdir:
            subprocess.call(["bash", os.path.join(SRC, "tests/pg/cluster.sh"), "stop", pgdir])
        shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Runs schemathesis over Confidant's OpenAPI document against a fresh server.

Usage: run.py sqlite|postgres [schemathesis arguments...]

It starts `confidant serve` on a free port with fresh data (for `postgres`, a fresh database
on CONFIDANT_TEST_POSTGRES_URL's server), creates two members who are friends and share a
conversation, registers and approves a partner app, connects it for one member through the
real OAuth flow (log-in form, consent form, PKCE), and then runs `st run` with every check,
authenticated by the member's API token, the app's access token and its client credentials.
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import requests

from flows import PASSWORD, REDIRECT_URI, SCOPE, connect

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("CONFIDANT_BIN", os.path.join(ROOT, "target", "debug", "confidant"))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_postgres_url():
    base = os.environ.get("CONFIDANT_TEST_POSTGRES_URL")
    if not base:
        sys.exit("SKIPPED: the PostgreSQL run needs CONFIDANT_TEST_POSTGRES_URL")
    name = f"confidant_fuzz_{os.getpid()}"
    subprocess.run(["psql", base, "-qc", f"DROP DATABASE IF EXISTS {name}"], check=True)
    subprocess.run(["psql", base, "-qc", f"CREATE DATABASE {name}"], check=True)
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}")), (base, name)


def main():
    backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    data_dir = tempfile.mkdtemp(prefix=f"confidant-fuzz-{backend}-")
    env = dict(os.environ)
    env.update(
        CONFIDANT_LOG__FILTER="warn",
        # Budgets large enough that a fuzzer's thousands of calls meet the rules, not the
        # limits; the limits themselves are tested on their own.
        CONFIDANT_ACCOUNTS__SEARCHES_PER_MEMBER_PER_MINUTE="1000000",
        CONFIDANT_ACCOUNTS__SEARCHES_PER_MEMBER_PER_DAY="1000000",
        CONFIDANT_ACCOUNTS__SEARCHES_PER_ADDRESS_PER_DAY="1000000",
        CONFIDANT_OAUTH__SENDS_PER_MEMBER_PER_HOUR="1000000",
    )
    dropped = None
    if backend == "postgres":
        env["CONFIDANT_DATABASE__URL"], dropped = fresh_postgres_url()
    elif backend != "sqlite":
        sys.exit(f"unknown backend {backend!r}: sqlite or postgres")

    def cli(*args, stdin=None):
        return subprocess.run(
            [BIN, "--data-dir", data_dir, *args],
            env=env, input=stdin, capture_output=True, text=True, check=True,
        ).stdout

    app = cli(
        "apps", "create", "--name", "Fuzzflix", "--owner", "Fuzz test",
        "--redirect-uri", REDIRECT_URI,
        "--scopes", SCOPE,
        "--surfaces", "title_page", "--variations", "control",
        "--item-url-template", "https://partner.example/title/{item_id}",
    )
    client_id = re.search(r'"client_id": *"([^"]+)"', app).group(1)
    client_secret = re.search(r'"client_secret": *"([^"]+)"', app).group(1)
    cli("apps", "approve", client_id)
    for handle in ("alice", "bob"):
        cli("users", "create", "--handle", handle, "--password-stdin", stdin=PASSWORD + "\n")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [BIN, "--data-dir", data_dir, "serve", "--listen", f"127.0.0.1:{port}"], env=env,
    )
    try:
        for _ in range(100):
            try:
                if requests.get(f"{url}/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            sys.exit("confidant did not start")
        prepare(url, client_id, client_secret)
        st = os.path.join(os.path.dirname(sys.executable), "st")
        run_env = dict(env, PARTNER_CLIENT_ID=client_id,
                       PARTNER_CLIENT_SECRET=client_secret, CONFIDANT_URL=url,
                       MEMBER_HANDLE="alice", MEMBER_PASSWORD=PASSWORD,
                       PARTNER_HANDLE="alice",
                       SCHEMATHESIS_HOOKS="hooks",
                       PYTHONPATH=os.pathsep.join(filter(None, [HERE, env.get("PYTHONPATH")])))
        command = [st, "--config-file", os.path.join(HERE, "schemathesis.toml"), "run",
                   f"{url}/api/openapi.json", *sys.argv[2:]]
        print("running:", " ".join(command), flush=True)
        status = subprocess.run(command, env=run_env).returncode
    finally:
        server.terminate()
        server.wait()
        if dropped:
            base, name = dropped
            subprocess.run(["psql", base, "-qc", f"DROP DATABASE IF EXISTS {name}"])
    sys.exit(status)


def prepare(url, client_id, client_secret):
    """Friends, a conversation with a message, and the app connected for alice and bob."""
    def session(handle):
        answer = requests.post(f"{url}/api/v1/sessions",
                               json={"handle": handle, "password": PASSWORD})
        answer.raise_for_status()
        return answer.json()["token"]

    alice, bob = session("alice"), session("bob")
    for (token, other) in ((alice, "bob"), (bob, "alice")):
        requests.post(f"{url}/api/v1/friends/requests", json={"handle": other},
                      headers={"Authorization": f"Bearer {token}"}).raise_for_status()
    bob_id = requests.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {bob}"}).json()["id"]
    conversation = requests.post(
        f"{url}/api/v1/conversations", json={"kind": "direct", "member_id": bob_id},
        headers={"Authorization": f"Bearer {alice}"})
    conversation.raise_for_status()
    conversation_id = conversation.json()["id"]
    requests.post(f"{url}/api/v1/conversations/{conversation_id}/messages",
                  json={"body": "hello"},
                  headers={"Authorization": f"Bearer {alice}"}).raise_for_status()

    # bob first, so that alice's friends list in the app is not empty.
    for handle in ("bob", "alice"):
        connect(url, handle, PASSWORD, client_id, client_secret)


if __name__ == "__main__":
    main()

"""The flows a real client goes through, shared by run.py (to prepare) and hooks.py (to
get fresh credentials when the fuzzer has revoked the ones it had)."""

import base64
import hashlib
import html
import re
import secrets
import urllib.parse

import requests

PASSWORD = "correct horse battery"
REDIRECT_URI = "https://partner.example/callback"
SCOPE = "profile friends:read messages:send messages:read.app"


def hidden_fields(page):
    fields = {}
    for match in re.finditer(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', page):
        fields.setdefault(html.unescape(match.group(1)), []).append(html.unescape(match.group(2)))
    return fields


def connect(url, handle, password, client_id, client_secret):
    """The authorization code flow with PKCE, as a browser and the app would do it."""
    browser = requests.Session()
    login = browser.get(f"{url}/login")
    csrf = hidden_fields(login.text)["csrf"][0]
    browser.post(f"{url}/login", data={"csrf": csrf, "handle": handle, "password": password},
                 allow_redirects=False).raise_for_status()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    consent = browser.get(f"{url}/oauth/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
        "scope": SCOPE, "state": "fuzz", "code_challenge": challenge,
        "code_challenge_method": "S256",
    }, allow_redirects=False)
    consent.raise_for_status()
    if consent.is_redirect:
        # Granted before and still in force: the code comes back without asking.
        location = consent.headers["location"]
    else:
        form = hidden_fields(consent.text)
        form["grant"] = SCOPE.split(" ")
        form["decision"] = ["allow"]
        decided = browser.post(f"{url}/oauth/authorize", data=form, allow_redirects=False)
        location = decided.headers["location"]
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    token = requests.post(f"{url}/oauth/token", auth=(client_id, client_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    })
    token.raise_for_status()
    return token.json()["access_token"]

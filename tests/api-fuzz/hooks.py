"""schemathesis hooks: the credentials each part of the API takes.

- `/api/`: the member's session token, fetched again whenever one stops working. The fuzzer
  logs out (`DELETE /api/v1/sessions/current`) as readily as it does anything else; a 401
  then makes schemathesis ask here for a new session instead of testing the rest of the API
  with a dead token.
- the partner API: the app's OAuth access token, connected again through the real OAuth flow
  whenever the fuzzer has disconnected the app or revoked the token; or its client credentials for the calls
  that take those (`/partner/v1/events`, `/partner/v1/reports`, and the OAuth token,
  revocation and introspection endpoints).
"""

import base64
import os

import requests
import schemathesis

from flows import connect


def _bearer(case, token):
    case.headers = case.headers or {}
    case.headers["Authorization"] = f"Bearer {token}"


@schemathesis.auth(retry_on=[401]).apply_to(path_regex="^/api/")
class MemberSession:
    def get(self, case, context):
        answer = requests.post(
            f"{os.environ['CONFIDANT_URL']}/api/v1/sessions",
            json={"handle": os.environ["MEMBER_HANDLE"], "password": os.environ["MEMBER_PASSWORD"]},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()["token"]

    def set(self, case, data, context):
        _bearer(case, data)


@schemathesis.auth(retry_on=[401]).apply_to(path_regex="^/partner/v1/(me|friends|messages|threads)")
class PartnerToken:
    def get(self, case, context):
        return connect(
            os.environ["CONFIDANT_URL"], os.environ["PARTNER_HANDLE"], os.environ["MEMBER_PASSWORD"],
            os.environ["PARTNER_CLIENT_ID"], os.environ["PARTNER_CLIENT_SECRET"],
        )

    def set(self, case, data, context):
        _bearer(case, data)


@schemathesis.auth(retry_on=[]).apply_to(path_regex="^/(partner/v1/(events|reports)|oauth/(token|revoke|introspect))")
class PartnerClient:
    def get(self, case, context):
        pair = f"{os.environ['PARTNER_CLIENT_ID']}:{os.environ['PARTNER_CLIENT_SECRET']}"
        return base64.b64encode(pair.encode()).decode()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Basic {data}"

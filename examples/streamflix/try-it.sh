#!/usr/bin/env bash
# Confidant and Streamflix on localhost, in two minutes (plus the first build):
#   - Confidant on http://127.0.0.1:8080 and Streamflix on http://127.0.0.1:8090, with fresh
#     data in $TRY_IT_DIR (default: a new temporary directory);
#   - Streamflix registered and approved as a partner app, with its webhook;
#   - two members, alice and bob (password "demo-password"), who are friends;
#   - an operator, admin (password "demo-password"), for /admin/apps, /admin/members and
#     /admin/reports.
# Confidant runs with `noise = "self_test"`: a demo deployment whose reports are exact and say
# so. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --release --bin confidant --bin streamflix
bin="$PWD/target/release"
data="${TRY_IT_DIR:-$(mktemp -d)}"
confidant_url=http://127.0.0.1:8080
streamflix_url=http://127.0.0.1:8090
export CONFIDANT_REPORTS__NOISE=self_test CONFIDANT_LOG__FILTER=warn
confidant() { "$bin/confidant" --data-dir "$data/confidant" "$@"; }
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p"; }

app=$(confidant apps create --name Streamflix --owner 'Streamflix demo' \
  --redirect-uri "$streamflix_url/callback" --redirect-uri "$streamflix_url/shared" \
  --scopes 'profile friends:read messages:send' --homepage "$streamflix_url" \
  --report-webhook "$streamflix_url/webhooks/confidant" \
  --surfaces 'title_page player_end' --variations 'control big_button' \
  --item-url-template "$streamflix_url/title/{item_id}?via=confidant")
client_id=$(field client_id <<<"$app")
client_secret=$(field client_secret <<<"$app")
webhook_secret=$(field webhook_secret <<<"$app")
confidant apps approve "$client_id" >/dev/null
for who in alice bob; do
  echo demo-password | confidant users create --handle "$who" --password-stdin >/dev/null
done
echo demo-password | confidant users create --handle admin --display-name Operator \
  --password-stdin --admin >/dev/null

confidant serve --listen 127.0.0.1:8080 &
confidant_pid=$!
trap 'kill $confidant_pid ${streamflix_pid:-} 2>/dev/null' EXIT
until curl -fsS "$confidant_url/healthz" >/dev/null 2>&1; do sleep 0.2; done

# alice and bob ask each other: they become friends.
for pair in alice:bob bob:alice; do
  token=$(curl -fsS "$confidant_url/api/v1/sessions" -H 'content-type: application/json' \
    -d "{\"handle\": \"${pair%%:*}\", \"password\": \"demo-password\"}" | field token)
  curl -fsS "$confidant_url/api/v1/friends/requests" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d "{\"handle\": \"${pair##*:}\"}" >/dev/null
done

STREAMFLIX_CLIENT_ID="$client_id" STREAMFLIX_CLIENT_SECRET="$client_secret" \
STREAMFLIX_WEBHOOK_SECRET="$webhook_secret" RUST_LOG=warn \
  "$bin/streamflix" --confidant-url "$confidant_url" --data-dir "$data/streamflix" &
streamflix_pid=$!

cat <<TEXT

Confidant:  $confidant_url   (sign in as alice or bob, password demo-password)
Operator:   $confidant_url/admin/apps   (sign in as admin, password demo-password: apps,
            members and reports; \`confidant users promote H\` makes another operator)
Streamflix: $streamflix_url   (sign in with any name; connect Confidant; share a film)

A report of today, exact (self-test):
  $bin/confidant --data-dir $data/confidant report --app $client_id --from $(date -u +%F) --days 1 --self-test --format html --out report.html
Then Streamflix's Reports page shows it. Data: $data. Ctrl-C stops both.
TEXT
wait

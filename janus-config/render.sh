#!/bin/sh
# Renders Fanout's Janus templates for one node from the environment, with the same output as the
# launcher's renderer (scripts/launch/janus-config.ts: role defaults, FANOUT_JANUS_OVERRIDE_<NAME>,
# `${NAME}` filled except in comment lines, a line whose placeholders are all empty commented out,
# an unknown placeholder an error). test/integration/docker-config.test.ts checks the two agree
# byte for byte. POSIX sh and awk only, so the Janus image needs no Node.
#
#   render.sh <templates-dir> <out-dir>
#
#   FANOUT_NODE_ID         the node's id, e.g. edge-1 (required)
#   FANOUT_ROLE            origin | edge (required): <templates-dir>/roles/<role>.env has its defaults
#   JANUS_API_SECRET       the Janus API secret the bridge sends (required; also the rooms' admin_key)
#   JANUS_WS_IP            where the Janus API WebSocket listens (default 127.0.0.1)
#   JANUS_WS_PORT          its port (default 8188)
#   JANUS_MEDIA_IP         bind media and ICE to this address only (default: every interface)
#   JANUS_RTP_PORT_RANGE   the node's media ports (default 20000-20999)
#   JANUS_NAT_1_1_MAPPING  the public address(es) to advertise behind a 1:1 NAT (default none)
#   JANUS_LOG_FILE         a log file (default none; the container logs to stdout)
#   JANUS_ADMIN_WS_PORT    turn the admin API on, on JANUS_WS_IP at this port (default off)
#   FANOUT_EVENTS_URL      the bridge's /janus/events: Janus posts its statistics there (default off)
#   JANUS_LIB_DIR          Janus's module folders (default /usr/lib/<arch>-linux-gnu/janus)
#   FANOUT_JANUS_OVERRIDE_<NAME>  replaces the role default NAME (as for the launcher)
set -eu

fail() {
  echo "render.sh: $*" >&2
  exit 2
}

[ $# -eq 2 ] || fail "usage: render.sh <templates-dir> <out-dir>"
templates=$1
out=$2

node_id=${FANOUT_NODE_ID:-}
role=${FANOUT_ROLE:-}
secret=${JANUS_API_SECRET:-}
ws_ip=${JANUS_WS_IP:-127.0.0.1}
ws_port=${JANUS_WS_PORT:-8188}
media_ip=${JANUS_MEDIA_IP:-}
rtp=${JANUS_RTP_PORT_RANGE:-20000-20999}
nat=${JANUS_NAT_1_1_MAPPING:-}
log_file=${JANUS_LOG_FILE:-}
admin_port=${JANUS_ADMIN_WS_PORT:-}
events_url=${FANOUT_EVENTS_URL:-}
lib=${JANUS_LIB_DIR:-/usr/lib/$(uname -m)-linux-gnu/janus}

printf '%s' "$node_id" | grep -Eq '^[a-z][a-z0-9-]{0,31}$' || fail "FANOUT_NODE_ID must be a node id such as \"edge-1\" (lowercase letters, digits, dashes), got \"$node_id\""
case $role in origin | edge) ;; *) fail "FANOUT_ROLE must be origin or edge, got \"$role\"" ;; esac
[ -n "$secret" ] || fail "JANUS_API_SECRET must be set (the bridge's JANUS_API_SECRET)"
is_port() { printf '%s' "$1" | grep -Eq '^[0-9]{1,5}$' && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }
is_port "$ws_port" || fail "JANUS_WS_PORT must be a port number, got \"$ws_port\""
[ -z "$admin_port" ] || is_port "$admin_port" || fail "JANUS_ADMIN_WS_PORT must be a port number, got \"$admin_port\""
printf '%s' "$rtp" | grep -Eq '^[0-9]{1,5}-[0-9]{1,5}$' || fail "JANUS_RTP_PORT_RANGE must look like \"20000-20999\", got \"$rtp\""
# Every value lands inside a quoted config string: none may break out of it.
for pair in "JANUS_API_SECRET=$secret" "JANUS_WS_IP=$ws_ip" "JANUS_MEDIA_IP=$media_ip" "JANUS_NAT_1_1_MAPPING=$nat" \
  "JANUS_LOG_FILE=$log_file" "FANOUT_EVENTS_URL=$events_url" "JANUS_LIB_DIR=$lib"; do
  case $pair in *'"'* | *'{'* | *'}'*) fail "${pair%%=*}: the value must not contain quotes or braces" ;; esac
done
[ -f "$templates/roles/$role.env" ] || fail "no role defaults at $templates/roles/$role.env"

if [ -n "$admin_port" ]; then admin_ws=true admin_ip=$ws_ip admin_secret=$secret; else admin_ws=false admin_ip='' admin_secret=''; fi
if [ -n "$events_url" ]; then events=true; else events=false; fi

mkdir -p "$out"
umask 077
vars=$(mktemp)
trap 'rm -f "$vars"' EXIT
# The node's values, in the launcher's order of precedence: these win over role defaults and overrides.
cat >"$vars" <<VARS
NODE_ID=$node_id
CONFIGS_FOLDER=$out
PLUGINS_FOLDER=$lib/plugins
TRANSPORTS_FOLDER=$lib/transports
EVENTS_FOLDER=$lib/events
LOGGERS_FOLDER=$lib/loggers
LOG_FILE=$log_file
API_SECRET=$secret
INTERFACE=$media_ip
ICE_ENFORCE_LIST=$media_ip
NAT_1_1_MAPPING=$nat
RTP_PORT_RANGE=$rtp
WS_PORT=$ws_port
WS_IP=$ws_ip
EVENTS=$events
EVENTS_BACKEND=$events_url
ADMIN_WS=$admin_ws
ADMIN_WS_PORT=$admin_port
ADMIN_WS_IP=$admin_ip
ADMIN_SECRET=$admin_secret
VARS

for template in "$templates"/*.template; do
  [ -f "$template" ] || continue
  name=$(basename "$template" .template)
  awk -v varsfile="$vars" -v defaults="$templates/roles/$role.env" -v origin="$templates/roles/origin.env" \
    -v edge="$templates/roles/edge.env" -v tname="$(basename "$template")" '
    function trim(s) { gsub(/^[ \t\r]+|[ \t\r]+$/, "", s); return s }
    # KEY=VALUE lines, comments and blanks ignored (parseEnvFile).
    function load(file, into, known,    line, eq) {
      while ((getline line < file) > 0) {
        line = trim(line)
        if (line == "" || substr(line, 1, 1) == "#") continue
        eq = index(line, "=")
        if (eq <= 1) continue
        if (known) into[trim(substr(line, 1, eq - 1))] = 1
        else into[trim(substr(line, 1, eq - 1))] = trim(substr(line, eq + 1))
      }
      close(file)
    }
    BEGIN {
      load(defaults, v, 0)
      load(origin, known, 1)
      load(edge, known, 1)
      prefix = "FANOUT_JANUS_OVERRIDE_"
      for (name in ENVIRON) {
        if (index(name, prefix) != 1) continue
        key = substr(name, length(prefix) + 1)
        if (!(key in known)) { printf "render.sh: %s: %s is not a role default\n", name, key > "/dev/stderr"; bad = 1; exit 2 }
        if (ENVIRON[name] ~ /["\n\r{}]/) { printf "render.sh: %s: the value must not contain quotes, braces or line breaks\n", name > "/dev/stderr"; bad = 1; exit 2 }
        v[key] = ENVIRON[name]
      }
      while ((getline line < varsfile) > 0) { eq = index(line, "="); v[substr(line, 1, eq - 1)] = substr(line, eq + 1) }
      close(varsfile)
    }
    {
      line = $0
      if (line ~ /^[ \t]*#/) { print line; next }
      result = ""; placeholders = 0; empty = 0
      while (match(line, /\$\{[A-Z0-9_]+\}/)) {
        key = substr(line, RSTART + 2, RLENGTH - 3)
        if (!(key in v)) { printf "render.sh: %s: unknown placeholder ${%s}\n", tname, key > "/dev/stderr"; bad = 1; exit 2 }
        placeholders++
        if (v[key] == "") empty++
        result = result substr(line, 1, RSTART - 1) v[key]
        line = substr(line, RSTART + RLENGTH)
      }
      result = result line
      print (placeholders > 0 && placeholders == empty ? "#" : "") result
    }
    END { if (bad) exit 2 }
  ' "$template" >"$out/$name.tmp"
  mv "$out/$name.tmp" "$out/$name"
done

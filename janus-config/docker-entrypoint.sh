#!/bin/sh
# The Janus node container: renders Fanout's Janus configuration for this node from the
# environment (see render.sh for every variable), then runs Janus in the foreground, logging to
# stdout. Extra arguments go to janus.
set -eu
config=${FANOUT_JANUS_CONFIG_DIR:-/etc/fanout/janus}
# Where the image keeps the renderer and the templates (the tests run this script from the repo).
home=${FANOUT_HOME:-/opt/fanout}
"$home/render.sh" "${FANOUT_TEMPLATES_DIR:-$home/janus-config}" "$config"
echo "fanout: Janus node ${FANOUT_NODE_ID} (${FANOUT_ROLE}): API ws://${JANUS_WS_IP:-127.0.0.1}:${JANUS_WS_PORT:-8188}, media ports ${JANUS_RTP_PORT_RANGE:-20000-20999}${JANUS_NAT_1_1_MAPPING:+, public ${JANUS_NAT_1_1_MAPPING}}"
exec janus --configs-folder="$config" --log-stdout --disable-colors "$@"

#!/usr/bin/env bash
# The head container's main process: starts `dcign dev up --profile cluster` with the container's arguments, stops it
# with `dev down` on SIGTERM (docker stop), and ends the container when one of its servers' processes is gone (the
# check is by pid, not by health probe: on a loaded host a probe's few seconds may run out while the server is fine).
set -euo pipefail
cli=(node /app/dist/src/cli/main.js)
state=${DCIGN_STATE_DIR:-/data}
# After a container restart nothing of the last run is alive: its pid records would name other processes.
rm -f "$state/stack.json" "$state/postgres/data/postmaster.pid"
"${cli[@]}" dev up --profile cluster "$@"
echo "[head] every server is up"
stop() { "${cli[@]}" dev down; exit 0; }
trap stop TERM INT
while "${cli[@]}" dev status --json | node -e '
  const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const down = s.filter((x) => !x.running).map((x) => x.name);
  if (down.length) { console.error(`[head] stopped: ${down.join(", ")}`); process.exit(1); }'; do
  sleep 15 & wait $!
done
"${cli[@]}" dev logs -n 30 || true
exit 1

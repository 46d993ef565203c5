# What the lab scripts (lab.sh, bgp.sh) share: running in a namespace,
# checksum offloads off, waiting for something to come up, and stopping a
# process by its pid file. Sourced; each script defines its own `log`.

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# Kernel ends of AF_PACKET veths must not leave checksums to offload, or
# platd receives frames with partial checksums.
offloads_off() { in_ns "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true; }

# Runs "$@" every 0.2 s until it succeeds, WAIT_TRIES times at most (50).
wait_for() {
  local what=$1; shift
  for _ in $(seq "${WAIT_TRIES:-50}"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "$what did not come up"; return 1
}

# Stops the process whose pid file is $1 (TERM, up to 5 s, then KILL).
stop_pidfile() {
  local f=$1
  [[ -f $f ]] || return 0
  local pid; pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}

# kill -9 of the process whose pid file is $1: no goodbye on any link.
kill_pidfile() {
  local f=$1
  [[ -f $f ]] || return 0
  kill -KILL "$(cat "$f")" 2>/dev/null || true
  rm -f "$f"
}

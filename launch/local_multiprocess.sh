#!/usr/bin/env bash
# Runs N mpe_jax processes on this machine, each with D fake CPU devices,
# connected through JAX's distributed runtime on 127.0.0.1 (CPU collectives
# through gloo). It is the multi-host code path without a cluster: tests and
# laptops use it to check a multi-host run end to end.
#
# Usage (from the repository root):
#   launch/local_multiprocess.sh N D -- <mpe_jax.main arguments>
# Example:
#   launch/local_multiprocess.sh 2 2 -- --config=configs/ssmpe.py:quick \
#       --workdir=runs/quick_2x2
#
# Environment:
#   MPE_JAX_PORT     coordinator port (default: a free port picked here)
#   MPE_JAX_KILL_AFTER  seconds between SIGTERM and SIGKILL of the other
#                    processes after one failed (default 30)
#   MPE_JAX_LOG_DIR  where process_<i>.log files go (default: a new temp dir;
#                    process 0 is also echoed to this terminal)
#   PYTHON           interpreter (default: python)
#
# SIGTERM / SIGINT sent to this script are forwarded to every process (a
# preemption notice: they save a checkpoint at one agreed step and exit).
# Exits with the first non-zero exit status of a process (the others are then
# stopped), else 0.
set -u -o pipefail

usage() {
  echo "usage: $0 NUM_PROCESSES DEVICES_PER_PROCESS -- <mpe_jax.main args>" >&2
  exit 2
}
[[ $# -ge 3 ]] || usage
NUM_PROCESSES=$1
DEVICES=$2
shift 2
[[ "$1" == "--" ]] || usage
shift
[[ "$NUM_PROCESSES" =~ ^[1-9][0-9]*$ && "$DEVICES" =~ ^[1-9][0-9]*$ ]] || usage

PYTHON=${PYTHON:-python}
PORT=${MPE_JAX_PORT:-$("$PYTHON" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
LOG_DIR=${MPE_JAX_LOG_DIR:-$(mktemp -d -t mpe_jax_local.XXXXXX)}
mkdir -p "$LOG_DIR"

# Fake CPU devices for JAX; keep any other XLA flags the caller set.
XLA_FLAGS_BASE=$(echo "${XLA_FLAGS:-}" |
  sed -E 's/--xla_force_host_platform_device_count=[0-9]+//g')
export XLA_FLAGS="$XLA_FLAGS_BASE --xla_force_host_platform_device_count=$DEVICES"
export JAX_PLATFORMS=cpu

echo "local_multiprocess: $NUM_PROCESSES processes x $DEVICES CPU devices," \
     "coordinator 127.0.0.1:$PORT, logs in $LOG_DIR" >&2

PIDS=()
for ((i = 0; i < NUM_PROCESSES; i++)); do
  args=("$@" --distributed --coordinator_address="127.0.0.1:$PORT"
        --num_processes="$NUM_PROCESSES" --process_id="$i")
  if ((i == 0)); then  # process 0 is also echoed to this terminal
    "$PYTHON" -m mpe_jax.main "${args[@]}" \
        > >(tee "$LOG_DIR/process_$i.log") 2>&1 &
  else
    "$PYTHON" -m mpe_jax.main "${args[@]}" >"$LOG_DIR/process_$i.log" 2>&1 &
  fi
  PIDS+=($!)
done

forward() {
  echo "local_multiprocess: forwarding SIG$1 to ${PIDS[*]}" >&2
  kill -s "$1" "${PIDS[@]}" 2>/dev/null
}
trap 'forward TERM' TERM
trap 'forward TERM' INT  # background jobs ignore SIGINT

# Poll (a trapped signal must not be delayed by a blocking wait). When a
# process fails, the others get SIGTERM and, after KILL_AFTER seconds, SIGKILL:
# a lost peer would leave them blocked in a collective.
KILL_AFTER=${MPE_JAX_KILL_AFTER:-30}
STATUS=0
FAILED_AT=
declare -A DONE=()
while ((${#DONE[@]} < NUM_PROCESSES)); do
  for i in "${!PIDS[@]}"; do
    pid=${PIDS[$i]}
    [[ -n "${DONE[$pid]:-}" ]] && continue
    kill -0 "$pid" 2>/dev/null && continue
    wait "$pid"
    rc=$?
    DONE[$pid]=1
    if ((rc != 0 && STATUS == 0)); then
      echo "local_multiprocess: process $i exited with status $rc" \
           "(log: $LOG_DIR/process_$i.log); stopping the others" >&2
      STATUS=$rc
      FAILED_AT=$SECONDS
      kill -s TERM "${PIDS[@]}" 2>/dev/null
    fi
  done
  if [[ -n "$FAILED_AT" ]] && ((SECONDS - FAILED_AT > KILL_AFTER)); then
    kill -s KILL "${PIDS[@]}" 2>/dev/null
  fi
  ((${#DONE[@]} < NUM_PROCESSES)) && sleep 0.5
done
wait  # the tee of process 0
exit "$STATUS"

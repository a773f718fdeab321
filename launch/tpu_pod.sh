#!/usr/bin/env bash
# Cloud TPU VM pod slice: create, set up every worker, run, follow, stop,
# delete -- all through `gcloud compute tpus tpu-vm`.
#
# Usage (from the repository root, with gcloud authenticated):
#   launch/tpu_pod.sh create               # the TPU VM slice
#   launch/tpu_pod.sh setup                # code + Python env + bucket, all workers
#   launch/tpu_pod.sh run [-- <extra mpe_jax.main flags>]
#   launch/tpu_pod.sh logs [WORKER]        # follow one worker's log (default 0)
#   launch/tpu_pod.sh stop                 # SIGTERM: checkpoint, then exit
#   launch/tpu_pod.sh delete
#
# Settings (environment variables; defaults in brackets):
#   TPU_NAME [mpe-jax]            ZONE [us-west4-a]
#   ACCELERATOR_TYPE [v5litepod-16] (4 hosts x 4 chips; v4-32 = 4 hosts x 4)
#   RUNTIME_VERSION [v2-alpha-tpuv5-lite] (v4: tpu-ubuntu2204-base)
#   SPOT [1]                      create a Spot (preemptible) slice when 1
#   BUCKET                        gs://... bucket for runs; REQUIRED by setup
#                                 and run: mounted with gcsfuse at MOUNT on
#                                 every worker, so that all hosts see the same
#                                 WORKDIR (checkpoints, metrics)
#   MOUNT [/mnt/mpe_jax]          mount point of BUCKET on the workers
#   CONFIG [configs/ssmpe.py]     --config of the run
#   RUN_NAME [ssmpe]              WORKDIR = $MOUNT/runs/$RUN_NAME
#   DATA_DIR                      optional TFDS data_dir (gs://... works)
#
# Preemption: a Spot slice gets SIGTERM before it is reclaimed; every process
# agrees on one step, saves a checkpoint into WORKDIR and exits. Recreate the
# slice (create + setup) and `run` again with the same RUN_NAME: the run
# resumes from WORKDIR/checkpoints/latest at that step.
set -euo pipefail

TPU_NAME=${TPU_NAME:-mpe-jax}
ZONE=${ZONE:-us-west4-a}
ACCELERATOR_TYPE=${ACCELERATOR_TYPE:-v5litepod-16}
RUNTIME_VERSION=${RUNTIME_VERSION:-v2-alpha-tpuv5-lite}
SPOT=${SPOT:-1}
MOUNT=${MOUNT:-/mnt/mpe_jax}
CONFIG=${CONFIG:-configs/ssmpe.py}
RUN_NAME=${RUN_NAME:-ssmpe}
DATA_DIR=${DATA_DIR:-}
WORKDIR="$MOUNT/runs/$RUN_NAME"
REMOTE_SRC='~/mpe_jax'
REMOTE_ENV='~/mpe_jax_env'
REMOTE_LOG='~/mpe_jax_run.log'
REMOTE_PID='~/mpe_jax_run.pid'

tpu() { gcloud compute tpus tpu-vm "$@" --zone="$ZONE"; }
on_all() { tpu ssh "$TPU_NAME" --worker=all --command="$1"; }
need_bucket() {
  [[ -n "${BUCKET:-}" ]] || { echo "set BUCKET=gs://<bucket> (shared WORKDIR)" >&2; exit 2; }
}

cmd=${1:-}
shift || true
case "$cmd" in
  create)
    spot_flag=()
    [[ "$SPOT" == 1 ]] && spot_flag=(--spot)
    tpu create "$TPU_NAME" --accelerator-type="$ACCELERATOR_TYPE" \
        --version="$RUNTIME_VERSION" "${spot_flag[@]}"
    ;;
  setup)
    need_bucket
    archive=$(mktemp -t mpe_jax_src.XXXXXX).tar.gz
    git archive --format=tar.gz -o "$archive" HEAD
    tpu scp "$archive" "$TPU_NAME:~/mpe_jax_src.tar.gz" --worker=all
    rm -f "$archive"
    # Python >= 3.11 through uv (the TPU images ship 3.10); gcsfuse for the
    # shared WORKDIR (directory renames enabled: Orbax renames its temporary
    # checkpoint directories).
    on_all "set -e
      rm -rf $REMOTE_SRC && mkdir -p $REMOTE_SRC
      tar -xzf ~/mpe_jax_src.tar.gz -C $REMOTE_SRC
      command -v uv >/dev/null || curl -LsSf https://astral.sh/uv/install.sh | sh
      export PATH=\$HOME/.local/bin:\$PATH
      [ -x $REMOTE_ENV/bin/python ] || uv venv --python 3.11 $REMOTE_ENV
      cd $REMOTE_SRC && VIRTUAL_ENV=$REMOTE_ENV uv pip install -e '.[tpu]'
      if ! command -v gcsfuse >/dev/null; then
        curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg |
          sudo tee /usr/share/keyrings/cloud.google.asc >/dev/null
        echo \"deb [signed-by=/usr/share/keyrings/cloud.google.asc] https://packages.cloud.google.com/apt gcsfuse-\$(lsb_release -cs) main\" |
          sudo tee /etc/apt/sources.list.d/gcsfuse.list
        sudo apt-get update -q && sudo apt-get install -y -q gcsfuse
      fi
      sudo mkdir -p $MOUNT && sudo chown \$USER $MOUNT
      mountpoint -q $MOUNT || gcsfuse --implicit-dirs --rename-dir-limit=100000 ${BUCKET#gs://} $MOUNT"
    ;;
  run)
    need_bucket
    [[ "${1:-}" == "--" ]] && shift
    extra=""
    for a in "$@"; do extra+=" $(printf '%q' "$a")"; done
    data_flag=""
    [[ -n "$DATA_DIR" ]] && data_flag="--config.data.data_dir=$DATA_DIR"
    # One process per host; --distributed detects the slice. Detached from
    # the ssh session; the pid file serves `stop`.
    on_all "cd $REMOTE_SRC && mkdir -p $WORKDIR &&
      nohup setsid $REMOTE_ENV/bin/python -m mpe_jax.main --distributed \
        --config=$CONFIG --workdir=$WORKDIR $data_flag $extra \
        > $REMOTE_LOG 2>&1 < /dev/null & echo \$! > $REMOTE_PID"
    echo "started; follow with: $0 logs   (results in $BUCKET/runs/$RUN_NAME)"
    ;;
  logs)
    tpu ssh "$TPU_NAME" --worker="${1:-0}" --command="tail -n 100 -F $REMOTE_LOG"
    ;;
  stop)
    on_all "kill -TERM \$(cat $REMOTE_PID) 2>/dev/null || true"
    ;;
  delete)
    tpu delete "$TPU_NAME" --quiet
    ;;
  *)
    sed -n '2,30p' "$0" >&2
    exit 2
    ;;
esac

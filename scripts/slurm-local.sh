#!/usr/bin/env bash
# A real single-node Slurm on this machine, for tests and trying the
# examples/slurm/ scripts: munged, slurmctld and slurmd on localhost, all state
# under one directory, no systemd, no cgroups, no accounting.
#
#   scripts/slurm-local.sh start DIR   # installs slurm-wlm + munge if missing; waits for the node to be idle
#   scripts/slurm-local.sh env DIR     # prints the export line for SLURM_CONF (eval it)
#   scripts/slurm-local.sh stop DIR    # stops the three daemons (waits on their pids)
#
# After `start`, run `export SLURM_CONF=DIR/slurm.conf` (or `eval "$(scripts/slurm-local.sh env DIR)"`)
# and sbatch/squeue/sinfo talk to it. Runs as root (as CI does) or as a user
# with sudo for the install. docs/slurm.md explains the setup.
set -euo pipefail

cmd=${1:-}
DIR=${2:-}
if [[ -z "$cmd" || -z "$DIR" ]]; then
  sed -n '2,14p' "$0" >&2
  exit 2
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CONF=$DIR/slurm.conf

log() { echo "slurm-local: $*" >&2; }

install() {
  local missing=()
  for p in slurm-wlm munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  log "installing ${missing[*]}"
  # Debian's packages start no daemon where policy-rc.d forbids it; we start ours by hand.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

wait_pid_gone() {
  local pid=$1
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

start() {
  install
  local host
  host=$(hostname -s)
  mkdir -p "$DIR"/{state,spool,log,munge}
  # munge: a key of our own, its socket under DIR, run as the munge user.
  if [[ ! -f $DIR/munge/munge.key ]]; then
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
  fi
  chown -R munge:munge "$DIR/munge" 2>/dev/null || true
  chmod 711 "$DIR/munge"
  chmod 400 "$DIR/munge/munge.key"
  # munged wants its parent directories not writable by others.
  chmod go-w "$DIR"
  runuser -u munge -- /usr/sbin/munged --key-file="$DIR/munge/munge.key" \
    --socket="$DIR/munge/munge.socket" --pid-file="$DIR/munge/munged.pid" \
    --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" --origin=127.0.0.1
  local node
  node=$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$host/")
  cat >"$CONF" <<EOF
ClusterName=valise-local
SlurmctldHost=$host(127.0.0.1)
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
InactiveLimit=0
KillWait=5
MinJobAge=300
EOF
  export SLURM_CONF=$CONF
  /usr/sbin/slurmctld -f "$CONF"
  /usr/sbin/slurmd -f "$CONF"
  for _ in $(seq 1 100); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then
      log "node $host idle; export SLURM_CONF=$CONF"
      return 0
    fi
    sleep 0.2
  done
  log "the node did not become idle in 20 s; logs in $DIR/log"
  sinfo >&2 || true
  tail -5 "$DIR"/log/*.log >&2 || true
  return 1
}

stop() {
  for f in slurmd.pid slurmctld.pid munge/munged.pid; do
    [[ -f $DIR/$f ]] || continue
    local pid
    pid=$(cat "$DIR/$f")
    # The daemons remove their pid files early while shutting down: wait on the pid.
    kill "$pid" 2>/dev/null || true
    wait_pid_gone "$pid"
  done
  log "stopped"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac

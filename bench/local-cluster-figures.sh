#!/usr/bin/env bash
# The real cluster's figures on this machine (docs/figures.md), as medians of RUNS runs:
#   init      wall time of `omni init -f examples/cluster-local.yaml` (3 nodes, local sandboxes)
#   failover  from SIGKILL of the leader's container to `omni status` healthy again
#   cold      from `omni-node boot` after a power loss (every process killed, /run's namespaces,
#             links and bridge gone, disks kept) to `omni status` healthy again
# usage (as root, from the repository): bench/local-cluster-figures.sh BUILD_DIR [RUNS]
set -euo pipefail
build=${1:?usage: bench/local-cluster-figures.sh BUILD_DIR [RUNS]}
runs=${2:-5}
omni=$build/cli/omni
node=$build/node/omni-node
site=$(mktemp -d /tmp/omni-figures.XXXXXX)/site
config=examples/cluster-local.yaml
export HOME=${site%/site}/home
mkdir -p "$HOME"

now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN {printf "%.2f", a - b}'; }
reset() { "$omni" reset --yes -f "$config" --state-dir "$site" >/dev/null 2>&1 || true; }
trap reset EXIT
healthy_within() {
  for _ in $(seq 600); do
    "$omni" status >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "not healthy within 60 s" >&2
  return 1
}
# The cluster's processes: those whose command line or environment names the site (a
# container's command does not; its environment does, in OMNI_VM_FILES).
site_pids() {
  for dir in /proc/[0-9]*; do
    if grep -qaF -- "$site" "$dir/cmdline" "$dir/environ" 2>/dev/null; then
      tr '\0' ' ' <"$dir/cmdline" 2>/dev/null | grep -qF -- "$1" && echo "${dir#/proc/}"
    fi
  done
  return 0
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

init_s=() failover_s=() cold_s=()
for run in $(seq "$runs"); do
  reset
  t=$(now)
  "$omni" init -f "$config" --state-dir "$site" >/dev/null
  init_s+=("$(since "$t")")
  healthy_within

  replica=$("$omni" status -o json | sed -n 's/.*"leader":"orchestrator:\([0-9]*\)".*/\1/p')
  pid=$(site_pids "--replica=$replica " | head -1)
  t=$(now)
  kill -9 "$pid"
  sleep 0.2
  healthy_within
  failover_s+=("$(since "$t")")

  id=$(sed -n 's/^id: //p' "$site/site.yaml")
  site_pids "" | xargs -r kill -9
  sleep 0.5
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^omni-local-|^omh-$id$"); do
    ip netns del "$ns"
  done
  ip link del "omb-$id" 2>/dev/null || true
  t=$(now)
  "$node" boot --site "$site" >/dev/null
  healthy_within
  cold_s+=("$(since "$t")")
  echo "run $run: init ${init_s[-1]} s, failover ${failover_s[-1]} s, cold start ${cold_s[-1]} s"
done
printf 'medians of %d runs: init %.1f s, leader failover %.1f s, cold start %.1f s\n' "$runs" \
  "$(printf '%s\n' "${init_s[@]}" | median)" "$(printf '%s\n' "${failover_s[@]}" | median)" \
  "$(printf '%s\n' "${cold_s[@]}" | median)"

#!/usr/bin/env bash
# Compares this build's figures with another commit's, measured side by side in one run on this
# machine, and says which figure moved. Not in CI: it builds twice and takes minutes.
#
#   bench/compare-builds.sh [BASE_REV] [RUNS]     BASE_REV default HEAD~1, RUNS default 3
#
# Both are Release builds of the same targets: BASE_REV from a private copy
# (build/compare/base-src, a `git clone --shared`), this one from the working tree
# (build/compare/head). The timed figures run RUNS times, base and head taking turns so that
# the machine's load falls on both; a figure moved when the medians differ by more than 5% and
# no run of one side reaches the other side's range (on a shared machine one run can be off by
# 10%). The simulated figures (times inside the simulator, trace hashes) are exact: any
# difference is a change of behaviour, not of speed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
base_rev=${1:-HEAD~1}
runs=${2:-3}
dir=$repo/build/compare
targets=(bench-sim-speed bench-raft-failover omni-sim)
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "compare-builds: RUNS must be 1..99" >&2; exit 2; }
base_sha=$(git -C "$repo" rev-parse --verify "$base_rev^{commit}") ||
  { echo "compare-builds: no commit $base_rev" >&2; exit 2; }

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

source "$repo/.ci/private-build.sh"
build() {  # SOURCE BUILD_DIR
  release_build "$1" "$2" "$2" "${targets[@]}" ||
    { log "building $2 failed: see $2.*.log"; exit 1; }
}

mkdir -p "$dir"
private_copy "$repo" "$dir/base-src" "$base_sha"
log "building $(git -C "$repo" log -1 --format='%h %s' "$base_sha" | cut -c1-70) (base)"
build "$dir/base-src" "$dir/base"
log "building the working tree at $(git -C "$repo" log -1 --format=%h HEAD) (head)"
build "$repo" "$dir/head"

# Each figure: a name, its unit, and a command that prints its value (run in the repo).
wall_ms() {  # COMMAND... -> milliseconds of wall time
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1 || true
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}
sim_speed() { "$1/bench/bench-sim-speed" | awk '/events per wall-second/ {print $NF}'; }
raft_speed() { "$1/bench/bench-raft-failover" 100 10 1 | awk '/events per wall second/ {print $NF}'; }
# Events per second rewards events that do nothing; simulated seconds per wall second do not.
raft_rate() { "$1/bench/bench-raft-failover" 1 60 1 | awk '/simulated seconds per wall/ {print $NF}'; }
swarm_ms() { echo $(($(wall_ms "$1/sim/omni-sim" run scenarios/swarm.yaml --seeds 1..20) / 20)); }
bootstrap_ms() {
  local ms
  ms=$(wall_ms "$1/sim/omni-sim" run scenarios/bootstrap.yaml --seeds 1..200)
  awk -v ms="$ms" 'BEGIN {printf "%.2f\n", ms / 200}'
}
failover_median() {
  "$1/bench/bench-raft-failover" 1000 1 1 | awk '/new leader elected/ {print $9}'
}
swarm_hashes() {
  "$1/sim/omni-sim" run scenarios/swarm.yaml --seeds 1..20 | awk '/hash/ {print $NF}' |
    sha256sum | cut -c1-16
}

timed=(sim_speed raft_speed raft_rate swarm_ms bootstrap_ms)
declare -A unit=([sim_speed]="events/s" [raft_speed]="events/s" [raft_rate]="sim s / wall s"
  [swarm_ms]="ms a seed"
  [bootstrap_ms]="ms a seed" [failover_median]="ms simulated" [swarm_hashes]="hash of 20 traces")
declare -A what=([sim_speed]="bench-sim-speed, 1000 peers"
  [raft_speed]="bench-raft-failover speed, Raft workload"
  [raft_rate]="Raft workload, 60 simulated s"
  [swarm_ms]="omni-sim swarm.yaml, seeds 1..20"
  [bootstrap_ms]="omni-sim bootstrap.yaml, seeds 1..200"
  [failover_median]="fail-over median, 150-300 ms (1000 trials)"
  [swarm_hashes]="swarm.yaml seeds 1..20: trace hashes")
declare -A higher_is_better=([sim_speed]=1 [raft_speed]=1 [raft_rate]=1 [swarm_ms]=0
  [bootstrap_ms]=0)
declare -A samples

cd "$repo"
for ((r = 1; r <= runs; ++r)); do
  log "timed run $r of $runs"
  for figure in "${timed[@]}"; do
    for side in base head; do
      samples[$figure.$side]+="$("$figure" "$dir/$side") "
    done
  done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
lowest() { tr ' ' '\n' | grep . | sort -g | head -n 1; }
highest() { tr ' ' '\n' | grep . | sort -g | tail -n 1; }

printf '\n%-44s %-18s %14s %14s %9s  %s\n' "figure" "unit" "base" "head" "change" "verdict"
moved=0
for figure in "${timed[@]}"; do
  base=$(echo "${samples[$figure.base]}" | median)
  head=$(echo "${samples[$figure.head]}" | median)
  change=$(awk -v b="$base" -v h="$head" 'BEGIN {printf "%+.1f%%", (h - b) * 100 / b}')
  apart=$(awk -v bl="$(echo "${samples[$figure.base]}" | lowest)" \
    -v bh="$(echo "${samples[$figure.base]}" | highest)" \
    -v hl="$(echo "${samples[$figure.head]}" | lowest)" \
    -v hh="$(echo "${samples[$figure.head]}" | highest)" 'BEGIN {print (hl > bh || hh < bl)}')
  verdict=$(awk -v b="$base" -v h="$head" -v up="${higher_is_better[$figure]}" -v apart="$apart" '
    BEGIN {
      c = (h - b) / b
      if (c < 0.05 && c > -0.05) {print "same (within 5%)"; exit}
      if (!apart) {print "same (the runs overlap)"; exit}
      better = up ? c > 0 : c < 0; print better ? "MOVED: better" : "MOVED: worse" }')
  [[ $verdict == MOVED* ]] && moved=1
  printf '%-44s %-18s %14s %14s %9s  %s\n' "${what[$figure]}" "${unit[$figure]}" "$base" "$head" \
    "$change" "$verdict"
done
for figure in failover_median swarm_hashes; do
  base=$("$figure" "$dir/base")
  head=$("$figure" "$dir/head")
  verdict="same"
  if [[ $base != "$head" ]]; then
    verdict="MOVED: behaviour changed"
    moved=1
  fi
  printf '%-44s %-18s %14s %14s %9s  %s\n' "${what[$figure]}" "${unit[$figure]}" "$base" "$head" \
    "" "$verdict"
done
printf '\nbase %s, head %s + working tree; timed figures are medians of %s runs\n' \
  "$(git log -1 --format=%h "$base_sha")" "$(git log -1 --format=%h HEAD)" "$runs"
((moved)) && echo "some figure moved" || echo "no figure moved"

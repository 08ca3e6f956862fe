#!/usr/bin/env bash
# Set up, then run every check: unit tests with a reduced real-MNIST run (when the mirror exists),
# the book's chapters under nbval, notebooks stored without outputs, and the built book in a browser.
# Chapters run in the smoke profile here; `bash scripts/book.sh` builds them in the laptop profile.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
export CMMD_OFFLINE="${CMMD_OFFLINE:-1}"

echo "== notebooks are stored without outputs"
nbstripout --verify book/*.ipynb

# Independent jobs run side by side, one per core (up to 8): the test files in pytest-xdist workers
# (a file stays in one worker, so its module fixtures are built once), the chapters in that many
# shards of kernels. Each job runs torch on one thread; CMMD_TEST_JOBS=1 runs everything in turn.
jobs="${CMMD_TEST_JOBS:-$(python -c 'import os; print(max(1, min(8, len(os.sched_getaffinity(0)))))')}"
parallel_tests=()
if [ "$jobs" -gt 1 ]; then parallel_tests=(-n "$jobs" --dist loadfile); fi

echo "== unit tests and the real-MNIST run ($jobs job(s); each test session gets an empty cache: tests/conftest.py)"
# Tests marked "alone" (a local Ray node, which must start within Ray's fixed 30 s) run after the
# others, with the machine to themselves. (Exit code 5: arguments that selected no test here.)
CMMD_PROFILE=smoke python -m pytest -q -p no:cacheprovider "${parallel_tests[@]}" -m "not alone" tests "$@" || [ "$?" -eq 5 ]
CMMD_PROFILE=smoke python -m pytest -q -p no:cacheprovider -m alone tests "$@" || [ "$?" -eq 5 ]

# The chapters train into one cache that the book build below reuses, so the build executes every
# notebook afresh but loads the checkpoints trained here instead of training them twice.
export CMMD_CACHE_DIR="${CMMD_CACHE_DIR:-$(pwd)/.cache/ci-smoke}"
# The kernels run with the device stand-in (tests/device_standin.py): every model and data object that
# train_or_load returns is float64, so a tensor that skips the device path fails as it would on a GPU.
# The book build below executes the same chapters again without it.
standin_ipython="$(mktemp -d)"
python tests/device_standin.py "$standin_ipython" >/dev/null
echo "== chapters under nbval (smoke profile, device stand-in, cache $CMMD_CACHE_DIR, $jobs shard(s))"
# Shard k takes every jobs-th chapter of the list below, longest first, so the shards take about as
# long; chapters that train the same model may run at once: the second waits for the checkpoint's
# lock, then loads it (cmmd_lite.train.train_or_load).
chapters=(book/05_*.ipynb book/06_*.ipynb book/07_*.ipynb book/08_*.ipynb book/02_*.ipynb book/04_*.ipynb
          book/03_*.ipynb book/01_*.ipynb)
for notebook in book/*.ipynb; do  # a chapter missing from the list still runs, in the last shard
  [[ " ${chapters[*]} " == *" $notebook "* ]] || chapters+=("$notebook")
done
logs="$(mktemp -d)"
run_shard() {
  local shard="$1" i started
  shift
  for (( i = shard; i < ${#chapters[@]}; i += jobs )); do
    started="$(date +%s)"
    OMP_NUM_THREADS=1 IPYTHONDIR="$standin_ipython" CMMD_PROFILE=smoke \
      python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env "${chapters[$i]}" "$@" || return 1
    echo "  ${chapters[$i]}: $(( $(date +%s) - started )) s" >>"$logs/times"
  done
}
started_all="$(date +%s)"
pids=()
for (( shard = 0; shard < jobs; shard++ )); do
  run_shard "$shard" "$@" >"$logs/shard-$shard.log" 2>&1 &
  pids+=("$!")
done
failed=0
for (( shard = 0; shard < jobs; shard++ )); do
  wait "${pids[$shard]}" || failed=1
  cat "$logs/shard-$shard.log"
done
printf "Chapter times under nbval (smoke profile, %s shard(s), %s s in all):\n" "$jobs" "$(( $(date +%s) - started_all ))"
sort "$logs/times" 2>/dev/null || true
if [ "$failed" -ne 0 ]; then echo "A chapter failed under nbval (its output is above)." >&2; exit 1; fi

echo "== the built book in headless Chromium (smoke profile)"
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "could not install chromium"
fi
if command -v chromium >/dev/null 2>&1; then
  CMMD_PROFILE=smoke bash scripts/book.sh >/tmp/cmmd-book-build.log 2>&1 || { tail -50 /tmp/cmmd-book-build.log; exit 1; }
  sed -n '/Notebook execution:/,/total/p' /tmp/cmmd-book-build.log
  python scripts/check_book.py
else
  echo "SKIPPED: chromium is not installed (apt-get install -y chromium), so the built book was not checked."
fi

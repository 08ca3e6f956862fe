# Sourced by book.sh and test.sh (from the repository root): set up .venv (once per run: test.sh
# calls book.sh), activate it, and point CMMD_DATA_DIR at the read-only MNIST mirror beside the
# checkout when there is one.
if [ -z "${CMMD_SETUP_DONE:-}" ]; then
  bash scripts/setup.sh
  export CMMD_SETUP_DONE=1
fi
. .venv/bin/activate
if [ -z "${CMMD_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export CMMD_DATA_DIR="$(cd ../shared/data && pwd)"
fi

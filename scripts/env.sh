# Sourced by book.sh and test.sh (from the repository root): set up .venv, activate it, and
# point CMMD_DATA_DIR at the read-only MNIST mirror beside the checkout when there is one.
bash scripts/setup.sh
. .venv/bin/activate
if [ -z "${CMMD_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export CMMD_DATA_DIR="$(cd ../shared/data && pwd)"
fi

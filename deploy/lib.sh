# Shared by deploy/local-cluster.sh and tests/run.sh: root-or-sudo apt, and the project venv.

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  # apt_install PACKAGE... : install what is missing, quietly.
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_venv() {
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "replicator needs Python 3.11 or newer; this python3 is $(python3 --version)" >&2
    exit 1
  }
  if [ ! -x .venv/bin/python ]; then
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    python3 -m venv .venv
  fi
}

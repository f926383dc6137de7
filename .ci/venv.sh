# Shared by ./nurture, ./run-tests and .ci/run: make .venv and install the project into it.
# ensure_venv DIR run|dev — reinstalls when pyproject.toml is newer than the last install.

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "Nurture needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  return 1
}

ensure_venv() {
  local root="$1" flavour="$2" venv="$1/.venv"
  local stamp="$venv/.installed-$flavour" spec="$root"
  [ "$flavour" = dev ] && spec="$root[dev]"
  if [ -x "$venv/bin/nurture" ] && [ -f "$stamp" ] && [ ! "$root/pyproject.toml" -nt "$stamp" ]; then
    return 0
  fi
  local log="$root/.venv-install.log"
  if [ ! -x "$venv/bin/python" ]; then
    echo "Creating $venv ..." >&2
    "$(find_python)" -m venv "$venv"
  fi
  echo "Installing Nurture ($flavour) into $venv (log: $log) ..." >&2
  if ! { "$venv/bin/python" -m pip install --upgrade pip &&
    "$venv/bin/python" -m pip install --editable "$spec"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "installing failed; the whole log is in $log" >&2
    return 1
  fi
  touch "$stamp"
}

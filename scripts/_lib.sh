# Shared by the scripts in this folder: find a Python >= 3.12 and the project venv.
# (The JupyterLite lock add-on needs pyodide-lock >= 0.1.3, which needs Python 3.12+.)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

find_python() {
  local candidates=("${PYTHON:-}" python3.13 python3.12 python3)
  if command -v pyenv >/dev/null 2>&1; then
    local root; root="$(pyenv root)"
    candidates+=("$root"/versions/3.13*/bin/python3 "$root"/versions/3.12*/bin/python3)
  fi
  local c
  for c in "${candidates[@]}"; do
    [ -n "$c" ] || continue
    if "$c" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
      command -v "$c" 2>/dev/null || echo "$c"
      return 0
    fi
  done
  echo "error: the course needs Python 3.12 or newer (python3.12 or python3.13 on PATH)." >&2
  echo "  fix: install it (Debian: apt-get install python3.12-venv), or set PYTHON=/path/to/python3.12" >&2
  return 1
}

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

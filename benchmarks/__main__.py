"""``python -m benchmarks NAME [ARGS]`` runs ``benchmarks/NAME.py``; without NAME, lists them.

Every module here not starting with ``_`` is a benchmark (``pipeline``: the product path
against its peers; ``calibrate``: the CPU figures ``s3copy plan`` reads; ``localstack``:
builds the LocalStack venv the others run against); ``_servers.py`` is shared by them.
"""

from __future__ import annotations

import pkgutil
import runpy
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    if len(sys.argv) < 2 or sys.argv[1] not in names:
        print("usage: ./dev bench NAME [ARGS]\n\nbenchmarks:\n  " + "\n  ".join(names))
        return 2
    name = sys.argv[1]
    sys.argv = [f"benchmarks/{name}.py", *sys.argv[2:]]
    runpy.run_module(f"benchmarks.{name}", run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m seqfw.bench``: see ``seqfw.bench.throughput``."""
from .throughput import main

if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m seqfw.inventory``: every registered cell, task and topology (``seqfw.cli.inventory``)."""
from .cli.inventory import main

if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m seqfw.sample``: sample from, or score with, a finished language-model run (``seqfw.cli.sample``)."""
from .cli.sample import main

if __name__ == "__main__":
    raise SystemExit(main())

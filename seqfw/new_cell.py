"""``python -m seqfw.new_cell NAME``: write a new cell plugin package, ready to install and test (``seqfw.cli.new_cell``)."""
from .cli.new_cell import main

if __name__ == "__main__":
    raise SystemExit(main())

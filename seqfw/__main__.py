"""``python -m seqfw``: the command line (``seqfw.cli.main``)."""
from .cli.main import main

if __name__ == "__main__":
    main()

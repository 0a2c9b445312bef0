"""`python -m w2vexp.neighbors`: the command lives in `w2vexp.cli.neighbors`."""
import sys

from .cli.neighbors import main

if __name__ == "__main__":
    sys.exit(main())

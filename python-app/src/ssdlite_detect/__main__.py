"""`python -m ssdlite_detect` is the same as `ssdlite-detect`."""
import sys

from .cli import main

sys.exit(main())

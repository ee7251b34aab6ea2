"""``python -m benchmarks``: run the whole suite (``benchmarks.suite``); the same as ``transports bench``."""

import sys

from benchmarks.suite import main

sys.exit(main())

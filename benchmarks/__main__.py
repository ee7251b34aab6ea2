"""``python -m benchmarks``: run the core benchmarks."""

import sys

from benchmarks.core import main

sys.exit(main())

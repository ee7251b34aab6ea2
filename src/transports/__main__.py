"""``python -m transports``: the same as the ``transports`` command."""

import sys

from transports.cli import main

sys.exit(main())

"""``python -m tui.cli``: the ``phaseboard`` command."""

import sys

from tui.cli.main import main

sys.exit(main())

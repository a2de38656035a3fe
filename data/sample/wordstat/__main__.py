"""Allow ``python -m wordstat``."""

from wordstat.cli import main

raise SystemExit(main())

"""``python -m statemachine.cli``: the same as the ``sm`` command."""

from .main import main

raise SystemExit(main())

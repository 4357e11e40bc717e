"""``python -m statemachine.cli``: the same as the ``sm`` command."""

from statemachine.cli.main import main

raise SystemExit(main())

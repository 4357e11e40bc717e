"""``python -m bench``: the benchmark runner (see bench/README.md)."""

from bench.run import main

raise SystemExit(main())

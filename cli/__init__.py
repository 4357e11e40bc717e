"""The ``sm`` command (installed as ``statemachine.cli``): thin wrappers that parse arguments,
call the library and render the result. Heavy modules (rich, the runtime) are imported lazily
so that ``sm --help`` and ``sm run`` on a small file start fast."""

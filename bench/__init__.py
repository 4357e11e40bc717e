"""Benchmarks of statemachine-asl against its peers (moto, aws-local-stepfunctions).

Stages: ``generate`` (workloads + output checks) -> ``engines`` (which engine runs a job, how
peers are installed) -> ``measure`` (one child process: wall, peak RSS) -> ``run`` (the
runner: medians, ratios, targets) -> ``report`` (table and JSON). ``ours`` and
``peers/*_driver`` are the per-engine drivers that run inside the child processes.
Run ``python -m bench --help``.
"""

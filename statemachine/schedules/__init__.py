"""Schedules: EventBridge Scheduler-style schedules that start durable executions.

``expressions`` parses ``cron(...)``/``rate(...)``/``at(...)`` and computes fire times in a
time zone; ``scheduler`` is the loop ``sm worker`` (and ``sm serve``) run to fire them;
``service`` holds the CreateSchedule/GetSchedule/ListSchedules/UpdateSchedule/DeleteSchedule
verbs that ``statemachine.service.Service`` offers. Cron arithmetic needs the ``schedules``
extra (croniter).
"""

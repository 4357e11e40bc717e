"""Server stage: ``sm serve``, the AWS Step Functions API (JSON 1.0 protocol) on the durable
store, with the durable worker running inside the server's event loop.

Modules: ``config`` (ServerConfig), ``app`` (create_app: routes, hooks, the token gate),
``protocol`` (AWS's wire format and error shape), ``params`` and ``paging`` (parameters and
pagination with AWS's errors), ``api`` (the one route and the operations table), the
operations by area (``machines``, ``executions``, ``tasks``: callbacks and activities,
``tags``), ``backend`` (what operations work on), ``builder`` and ``policy`` (which Task
resources API-created machines may run), ``activities`` (the activity Task handler and its
long-poll notices), ``auth`` (the access token). Starlette and uvicorn are the optional
``server`` extra, imported only where a request is served: ``sm worker`` may use the policy
and builder modules without them.
"""

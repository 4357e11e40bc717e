"""Server stage: ``sm serve``, the AWS Step Functions API (JSON 1.0 protocol) on the durable
store, with the worker running inside the server's event loop.

Modules: ``config`` (ServerConfig), ``app`` (create_app: routes, lifespan, auth),
``protocol`` (AWS's wire format and error shape), ``api`` (the operations table),
``auth`` (access token), ``policy`` (which Task resources API-created machines may run).
Starlette and uvicorn are the optional ``server`` extra: nothing here is imported by ``sm``
unless ``sm serve`` runs.
"""

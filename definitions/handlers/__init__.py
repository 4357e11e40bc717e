"""Python task handlers used by the example workflows in definitions/.

A Task state calls one with ``Resource: python:handlers.<module>:<function>``; the module is
found relative to the definition's folder. Each function takes the task's effective input
(a JSON value) and returns the task result; an exception fails the task with the
exception's class name as the error, which Retry and Catch match on.
"""

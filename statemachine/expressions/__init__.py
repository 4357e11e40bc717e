"""The string sub-languages of ASL, each parsed once at compile time.

- ``jsonpath``   : JSONPath and Reference Paths (``$.a.b``, ``$$.Execution.Id``, ``$var.x``)
- ``intrinsics`` : the intrinsic-function call syntax (``States.Format('{}', $.x)``)
- ``functions``  : the table of intrinsic functions with declared signatures
- ``payload``    : payload templates (Parameters, ResultSelector, ItemSelector) with ``.$`` keys
- ``jsonata``    : the JSONata adapter (jsonata-python) and ``{% ... %}`` templates
"""

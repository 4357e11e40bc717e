"""Cases that do not pass yet, each with its reason. The runners mark them xfail(strict=True):
a listed case that starts passing fails the run until it is removed from here.

Keys are case ids: the path under the corpus root without ``.json``.
"""

KNOWN_FAILURES: dict[str, str] = {}

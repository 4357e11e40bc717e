"""Test-suite wide settings."""

from __future__ import annotations

import os
import tempfile

# Keep the CLI's validation record (statemachine.validation_cache) out of the user's home;
# subprocesses started by the tests inherit it.
os.environ.setdefault("SM_CACHE_DIR", tempfile.mkdtemp(prefix="sm-test-cache-"))

"""Resources stage: signed callback links, the Approve and Reject links of an approval e-mail.

In: a task token, a decision (``approve`` or ``reject``), the public base URL of ``sm serve``
and a server secret. Out: links ``<base>/callbacks/<decision>?taskToken=<token>&signature=<S>``
where S = base64url(HMAC-SHA256(secret, decision + "\\n" + token)); the server's
``/callbacks/...`` routes (statemachine/server/callbacks.py) verify S before they answer the
token. A link cannot be guessed (the token is random, S needs the secret) nor turned into
the other decision (S covers the decision).

How a definition that stays deployable to AWS gets signed links: it writes the links itself,
from ``$$.Task.Token`` (``$states.context.Task.Token``) and a base URL it is given, exactly as
it would for an API Gateway endpoint on AWS::

    {% $states.input.callbackUrl & '/approve?taskToken=' & $encodeUrlComponent($states.context.Task.Token) %}

The local e-mail resource (smtp.py), when its resource map has a ``callbacks`` section,
signs every link in the message that points under ``<url>/callbacks/approve`` or
``/reject`` and carries the task's own token (``sign_links``): the definition never sees the
secret, and links to anywhere else are left alone.

Configuration (a resource map's ``callbacks`` section; ``sm serve --resources MAP.yaml``
reads the same one)::

    callbacks:
      url: http://127.0.0.1:8083        # the server's public base URL
      secret_file: callback-secret      # relative to the map; created (0600) when missing

The secret comes from ``$SM_CALLBACK_SECRET`` when set, else from ``secret_file`` (default
``$XDG_STATE_HOME/statemachine/callback-secret``, i.e. ``~/.local/state/...``), created once
with 32 random bytes, so links stay valid across server restarts. The secret never appears
in a repr, a message or a history.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

DECISIONS: Final = ("approve", "reject")
SECRET_VARIABLE: Final = "SM_CALLBACK_SECRET"
#: URLs in text or HTML: stop at white space, quotes and angle brackets.
_URL = re.compile(r"""https?://[^\s"'<>]+""")


class CallbackConfigError(ValueError):
    """The ``callbacks`` section of a resource map is malformed, or its secret unreadable."""


def default_secret_file() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "statemachine" / "callback-secret"


def load_secret(path: Path) -> bytes:
    """The secret in ``path``, created (mode 0600, 32 random bytes as hex) when missing.

    Two processes creating it at once agree: the file is written aside and linked into
    place, so a reader never sees it half written. Raises CallbackConfigError when the file
    cannot be read or made, or holds fewer than 16 characters."""
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            aside.unlink()
        return _read_secret(path)
    except OSError as exc:
        raise CallbackConfigError(
            f"callbacks: cannot create the secret file {str(path)!r}: {exc.strerror or exc}"
        ) from None


def _read_secret(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise CallbackConfigError(f"callbacks: cannot read the secret file {str(path)!r}: "
                                  f"{type(exc).__name__}") from None
    if len(text) < 16:
        raise CallbackConfigError(f"callbacks: the secret file {str(path)!r} holds fewer than "
                                  "16 characters")
    return text.encode()


@dataclasses.dataclass(frozen=True)
class CallbackLinks:
    """Signs and verifies callback links for one server (``base_url``) and secret."""

    base_url: str
    secret: bytes = dataclasses.field(repr=False)

    @classmethod
    def from_config(cls, section: Mapping[str, Any], base: Path) -> CallbackLinks:
        """From a resource map's ``callbacks`` section; paths are relative to ``base``.
        Reads (or creates) the secret; raises CallbackConfigError."""
        url, path = parse_config(section, base)
        from_env = os.environ.get(SECRET_VARIABLE)
        if from_env:
            if len(from_env) < 16:
                raise CallbackConfigError(f"${SECRET_VARIABLE} holds fewer than 16 characters")
            return cls(url, from_env.encode())
        return cls(url, load_secret(path))

    # -- signing --------------------------------------------------------------------------
    def signature(self, token: str, decision: str) -> str:
        digest = hmac.new(self.secret, f"{decision}\n{token}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def verify(self, token: str, decision: str, signature: str) -> bool:
        """True when ``signature`` is this server's for ``token`` and ``decision``."""
        if decision not in DECISIONS:
            return False
        return hmac.compare_digest(self.signature(token, decision).encode(),
                                   signature.encode("utf-8", "replace"))

    def url(self, token: str, decision: str) -> str:
        """The signed link for ``decision`` (the form ``sign_links`` produces)."""
        from urllib.parse import quote

        return (f"{self.base_url}/callbacks/{decision}?taskToken={quote(token, safe='')}"
                f"&signature={self.signature(token, decision)}")

    def sign_links(self, text: str, token: str, *, html: bool = False) -> str:
        """``text`` with a signature added to each of its links to this server's
        ``/callbacks/approve`` or ``/callbacks/reject`` that carry ``token``. In HTML the
        added separator is written ``&amp;``."""
        prefix = f"{self.base_url}/callbacks/"
        separator = "&amp;" if html else "&"

        def sign(match: re.Match[str]) -> str:
            link = match.group(0)
            decision = _decision_of(link, prefix, token, html=html)
            if decision is None:
                return link
            return f"{link}{separator}signature={self.signature(token, decision)}"

        return _URL.sub(sign, text)


def parse_config(section: Mapping[str, Any], base: Path) -> tuple[str, Path]:
    """(base URL, secret file) of a ``callbacks`` section, touching no file (what
    ``sm validate --resources`` checks). Raises CallbackConfigError."""
    if not isinstance(section, Mapping):
        raise CallbackConfigError("callbacks must be an object with url (and secret_file)")
    unknown = sorted(set(section) - {"url", "secret_file"})
    if unknown:
        raise CallbackConfigError(f"callbacks: unknown keys {unknown}; allowed: "
                                  "['secret_file', 'url']")
    url = section.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise CallbackConfigError(f"callbacks.url must be the server's http(s) base URL, "
                                  f"got {url!r}")
    file = section.get("secret_file")
    if file is not None and not isinstance(file, str):
        raise CallbackConfigError(f"callbacks.secret_file must be a path, got {file!r}")
    return url.rstrip("/"), base / Path(file).expanduser() if file else default_secret_file()


def _decision_of(link: str, prefix: str, token: str, *, html: bool) -> str | None:
    if not link.startswith(prefix):
        return None
    parts = urlsplit(link.replace("&amp;", "&") if html else link)
    decision = parts.path.rstrip("/").rsplit("/", 1)[-1]
    query = parse_qs(parts.query)
    if decision not in DECISIONS or query.get("taskToken") != [token] or "signature" in query:
        return None
    return decision


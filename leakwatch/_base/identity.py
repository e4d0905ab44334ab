"""An object's identity as an int, without an audit event.

``id(obj)`` raises the ``builtins.id`` audit event, and once leakwatch's
audit hook is installed (creation records: ``leakwatch._attribution.origins``)
every event in the process is a call into it, some 200 ns; leakwatch takes
identities at every test's start and look.  ``object.__hash__`` (the base
implementation, whatever the class defines) is the object's address,
rotated: like ``id()``, unique among live objects, and raises no event.
Compare identities only with identities, never with ``id()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

identity: Callable[[Any], int] = object.__hash__

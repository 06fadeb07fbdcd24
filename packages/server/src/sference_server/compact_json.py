"""JSON text without spaces, from encoders made once.

``json.dumps(value, separators=(",", ":"))`` builds a new encoder on every call, which costs
about as much as encoding a small object; the worker and the batch paths write several a request.
"""

from __future__ import annotations

import json

# Non-ASCII characters as \u escapes (what ``json.dumps`` writes by default).
compact = json.JSONEncoder(separators=(",", ":")).encode
# Non-ASCII characters as themselves (stored text: shorter, read back by the same code).
compact_unicode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

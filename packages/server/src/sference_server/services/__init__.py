"""What the API and the console call: the request lifecycle and everything built on it. No web
framework in here; services return typed records (store/records.py) that render/ turns into wire
shapes."""

from .container import ApiServices

__all__ = ["ApiServices"]

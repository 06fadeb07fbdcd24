"""Wire formats, one module per surface: records in, JSON-ready objects out. The only place a
surface's shape (or, later, an API version's) is decided."""

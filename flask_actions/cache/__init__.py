"""A page cache for Flask-Caching backends, invalidated by server actions.

``revalidate_path(path)`` and ``revalidate_tag(tag)`` mark the pages cached
with :meth:`PageCache.cached` stale, in every process that shares the backend
(Redis for many processes and hosts, the process's memory by default). See
``docs/caching.md``.
"""

from .page import DEFAULTS as DEFAULTS
from .page import HEADER as HEADER
from .page import PageCache as PageCache

"""Signals sent by flask-actions.

All are sent with the application as sender (``current_app._get_current_object()``),
so connect with ``sender=app`` to hear only your app, and take ``**extra`` in
receivers: new keyword arguments may be added. Receivers run synchronously,
inside the request; their return values are ignored.

Example, purging a CDN when a tag is revalidated::

    from flask_actions.signals import tag_revalidated

    @tag_revalidated.connect_via(app)
    def purge(app, tag, **extra):
        cdn.purge_tag(tag)
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent when an action is about to run, after every check passed.
#: Arguments: ``action`` (the :class:`~flask_actions.Action`), ``args`` (the
#: bound arguments, a tuple).
action_started = _signals.signal("action-started")

#: Sent when an action finished successfully (also when it redirects).
#: Arguments: ``action``, ``result`` (the :class:`~flask_actions.ActionResult`).
action_succeeded = _signals.signal("action-succeeded")

#: Sent when an action failed: validation errors, an
#: :class:`~flask_actions.ActionError`, an HTTP error raised inside it, or an
#: unexpected exception. Arguments: ``action``, ``result``, ``exception`` (the
#: exception, or ``None``).
action_failed = _signals.signal("action-failed")

#: Sent for each :func:`~flask_actions.revalidate_path` call, after the action
#: returned (so receivers see committed data). Arguments: ``path`` (str).
path_revalidated = _signals.signal("path-revalidated")

#: Sent for each :func:`~flask_actions.revalidate_tag` call, after the action
#: returned. Arguments: ``tag`` (str).
tag_revalidated = _signals.signal("tag-revalidated")

#: Sent when an action redirects. Arguments: ``action``, ``location`` (str),
#: ``code`` (int).
redirected = _signals.signal("redirected")

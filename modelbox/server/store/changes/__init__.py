"""Live changes: one MongoDB change stream per process, fanned out to every subscriber.

`feed.py` owns the stream (opened, resumed, or lost and said so); `subscription.py` is a
subscriber's bounded queue; `change.py` is what they hand around.
"""

from modelbox.server.store.changes.change import Change
from modelbox.server.store.changes.feed import ChangeFeed, ConnectionLoss
from modelbox.server.store.changes.subscription import Subscription

__all__ = ["Change", "ChangeFeed", "ConnectionLoss", "Subscription"]

"""An actor runtime: Erlang/OTP supervision on anyio structured concurrency.

It knows nothing of Kubernetes, so it can be tested, and reasoned about, on its own.
The pieces:

* :class:`Actor` - private state behind a bounded mailbox, one message at a time;
  ``tell`` / ``tell_nowait`` / ``ask``; ``run`` and ``spawn`` for long-lived work.
* :class:`Supervisor` with :class:`ChildSpec`, :class:`Strategy`, :class:`Restart` -
  ordered start, reverse stop, restart intensity with backoff, failing upward.
* :class:`Registry` - running actors by hierarchical name (``"root.cache.pods"``).
* :class:`FaultInjector` (``registry.faults``) - crash, delay and drop by name.
* :class:`Bus` - versioned topics fanned out to bounded subscriber queues.
* ``statistics()`` everywhere, returning frozen snapshots.

Exceptions (all deliberate errors derive from one base)::

    Exception
     └── ActorSystemError
          ├── MailboxFull            tell_nowait() found the mailbox full
          ├── ActorStopped           the actor is not running (or stopped before answering)
          │    └── ActorCrashed      it crashed handling your ask; __cause__ is the crash
          ├── AskTimeout             no reply in time (also a TimeoutError)
          ├── ActorNotFound          no running actor of that name (also a LookupError)
          ├── NameTaken              a running actor already has that name
          ├── RequestError           raised by handlers to reject a bad request
          ├── InjectedFault          a crash caused by fault injection
          ├── SupervisorGaveUp       restart intensity exceeded; __cause__ is the last failure
          ├── Lagged                 a bus subscriber fell behind; .last_version to resume
          └── SubscriptionClosed     receiving from a closed subscription
"""

from ._actor import Actor
from ._bus import Bus, BusEvent, Subscription
from ._exceptions import (
    ActorCrashed,
    ActorNotFound,
    ActorStopped,
    ActorSystemError,
    AskTimeout,
    InjectedFault,
    Lagged,
    MailboxFull,
    NameTaken,
    RequestError,
    SubscriptionClosed,
    SupervisorGaveUp,
)
from ._faults import FaultInjector, FaultPlan
from ._mailbox import Mailbox
from ._registry import Registry
from ._stats import (
    ActorState,
    ActorStatistics,
    BusStatistics,
    ChildStatistics,
    FaultStatistics,
    LatencyStatistics,
    MailboxStatistics,
    SubscriptionStatistics,
    SupervisorStatistics,
)
from ._supervisor import ChildSpec, Restart, Strategy, Supervisor

__all__ = [
    "Actor",
    "ActorCrashed",
    "ActorNotFound",
    "ActorState",
    "ActorStatistics",
    "ActorStopped",
    "ActorSystemError",
    "AskTimeout",
    "Bus",
    "BusEvent",
    "BusStatistics",
    "ChildSpec",
    "ChildStatistics",
    "FaultInjector",
    "FaultPlan",
    "FaultStatistics",
    "InjectedFault",
    "LatencyStatistics",
    "Lagged",
    "Mailbox",
    "MailboxFull",
    "MailboxStatistics",
    "NameTaken",
    "Registry",
    "RequestError",
    "Restart",
    "Strategy",
    "SubscriptionClosed",
    "SubscriptionStatistics",
    "Subscription",
    "Supervisor",
    "SupervisorGaveUp",
    "SupervisorStatistics",
]

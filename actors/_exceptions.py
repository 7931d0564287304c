"""The one exception tree of the actors package (drawn in ``actors.__doc__``).

Every error the runtime raises on purpose derives from :class:`ActorSystemError`, so a
caller can tell "the actor system refused or failed" apart from its own bugs with a
single ``except``. Where an error also means something standard (a timeout, a failed
lookup) it derives from the builtin too, so generic code keeps working.
"""

from __future__ import annotations


class ActorSystemError(Exception):
    """Base class so callers can catch everything the runtime raises on purpose."""


class MailboxFull(ActorSystemError):
    """Raised by ``tell_nowait`` so the sender decides: wait, shed load, or report back-pressure.

    A bounded mailbox is what keeps a slow actor from growing memory without limit; the
    error is the back-pressure signal, never a silent drop.
    """

    def __init__(self, owner: str, capacity: int) -> None:
        super().__init__(f"mailbox of {owner!r} is full (capacity {capacity})")
        self.owner = owner
        self.capacity = capacity


class ActorStopped(ActorSystemError):
    """The actor is not running, so a message can neither be queued nor answered.

    Raised to senders after a stop or crash, and to askers whose message was still queued
    when the actor went away: they learn promptly instead of waiting for their timeout.
    """


class ActorCrashed(ActorStopped):
    """The actor crashed while handling *your* request; ``__cause__`` is the crash.

    Kept apart from :class:`ActorStopped` because the request itself may be what made the
    actor crash, which a caller may want to know before retrying it.
    """


class AskTimeout(ActorSystemError, TimeoutError):
    """No reply within the deadline; the actor may still handle the message later."""


class ActorNotFound(ActorSystemError, LookupError):
    """No running actor has that name (it may be between restarts)."""


class NameTaken(ActorSystemError):
    """Two running actors may not share a name, or addressing by name would be ambiguous."""


class RequestError(ActorSystemError):
    """Raise from a handler to reject a bad request.

    The exception is delivered to the asker and the actor carries on: a bad request is the
    caller's problem, not a reason to lose the actor's state. Any other exception from a
    handler is an infrastructure failure and crashes the actor (see ``Actor.request_errors``).
    """


class InjectedFault(ActorSystemError):
    """Raised inside an actor by fault injection, so a chaos-induced crash is recognisable."""


class SupervisorGaveUp(ActorSystemError):
    """Children failed more often than the restart intensity allows.

    Restarting forever would hide a persistent fault; failing upward lets the parent
    supervisor (with its own intensity) decide. ``__cause__`` is the last child error.
    """

    def __init__(self, supervisor: str, child: str, restarts: int, period: float) -> None:
        super().__init__(
            f"supervisor {supervisor!r} gave up: {restarts} restarts within {period}s "
            f"exceed its intensity; last failure in child {child!r}"
        )
        self.supervisor = supervisor
        self.child = child
        self.restarts = restarts
        self.period = period


class Lagged(ActorSystemError):
    """A bus subscriber fell behind and events it never got were discarded.

    ``last_version`` is the version of the last event the subscriber did receive (or the
    topic's version when it subscribed), so it can resume from a history or re-list. The
    subscription stays open and carries on with events published from now on.
    """

    def __init__(self, topic: str, last_version: int) -> None:
        super().__init__(
            f"subscriber of topic {topic!r} lagged; last version received: {last_version}"
        )
        self.topic = topic
        self.last_version = last_version


class SubscriptionClosed(ActorSystemError):
    """Receiving from a subscription that was closed (unsubscribed)."""

"""Sagas on the simulator: a saga as data, an orchestrator, choreography, and checkers.

A saga is a sequence of *local* transactions, one per service, with a compensating
transaction for every step that may have to be undone (Garcia-Molina & Salem, 1987). The
parts here keep the course's split between what the code does and what the world does:

- :class:`Step` and :class:`Saga`: the saga's definition is **data** (a list of steps,
  each with its service, action, optional compensation and the *pivot* mark), so it can be
  printed, checked (:meth:`Saga.problems`) and reordered in a notebook.
- :class:`Participant`: a service with its own database (a plain dict that survives
  crashes, like a disk) and named **local transactions** ``fn(db, cmd) -> reply``. A local
  transaction runs between two yields, so a crash can never split it: it commits whole or
  not at all. Every run of one is journaled as a ``tx`` log line with the changes it made
  to the tracked tables (``balance``, ``stock``, ``parcels``): that is what the checkers
  read, so a double charge shows up even if the code "looks" right.
- :class:`Orchestrator`: a simulated service (the EIP *Process Manager*) that drives the
  steps with ``ctx.call``, retries a step whose outcome is unknown (a timeout is not a
  "no"), compensates newest-first after a business rejection, never compensates past the
  pivot, keeps each saga's state in its own durable store, and resumes unfinished sagas
  after a crash (recovery ticks with a lease and a fencing token). Every state transition
  is a ``saga`` log line.
- :class:`EventChannel` and :class:`Choreography`: the same saga with no one in charge.
  The rules ("who reacts to which event") are *derived* from the saga's data; the channel
  delivers each event at least once, with retries, so subscribers must deduplicate.
  Publishing happens in the same step as the local transaction, which models a
  transactional outbox with a relay.
- :func:`idempotent`: the *Idempotent Receiver*: the first reply for a key is stored in
  the participant's database and replayed for every duplicate.
- Checkers over the journal: :func:`every_saga_finished`, :func:`conservation`, and
  :func:`saga_history` (a sequence diagram of one saga, drawn from its log lines).

The chapter's example shop (its saga, local transactions and ``build_shop``) is in
:mod:`labs.shop`; nothing here knows about orders or payments except the default table
names the checkers read.
"""


from .definition import Participant, Saga, Step, idempotent, rejected
from .orchestrator import Orchestrator
from .choreography import Choreography, EventChannel
from .history import SagaRecord, conservation, every_saga_finished, saga_history, saga_records, tally

__all__ = [
    "Choreography", "EventChannel", "Orchestrator", "Participant", "Saga", "SagaRecord",
    "Step", "conservation", "every_saga_finished", "idempotent", "rejected", "saga_history",
    "saga_records", "tally",
]


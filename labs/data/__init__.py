"""Data that services own: sagas (``saga``), the event store (``eventstore``), projections,
snapshots and the fold checker (``projection``), and a service's own database with the
transactional outbox, its relay harness, a naive relay, log tailing and the delivery checker
(``outbox``)."""

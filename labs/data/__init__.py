"""Data that services own: sagas (``saga``), the event store (``eventstore``), projections,
snapshots and the fold checker (``projection``), a service's own database with the
transactional outbox, crash points and the delivery checker (``outbox``), the polling
relay's harness and a naive relay (``relay``), and log tailing (``cdc``)."""

"""Data that services own: sagas (``saga``) and, as the chapters add them, event stores,
projections and the transactional outbox."""

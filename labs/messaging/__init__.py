"""Messaging: an event log with Kafka's shape (``broker``) and the consumer groups that read
it (``consumer``)."""

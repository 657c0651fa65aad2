"""Delivery: shipping and running services: rollouts (chapter 10), pods, probes and the JVM
in a container (chapter 18), autoscaling (chapter 12)."""

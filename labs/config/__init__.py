"""Configuration: EDN and Aero-style configuration, resolved per profile (chapter 14)."""

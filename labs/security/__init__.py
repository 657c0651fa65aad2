"""Security: identities and tokens between services (chapter 11)."""

"""PEP-WS transport and message handlers (websockets)."""

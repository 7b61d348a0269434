"""Parsing and composing mail, pure (no store, no sockets): MIME to ENVELOPE/BODYSTRUCTURE,
part offsets, decoded text and preview, addresses."""

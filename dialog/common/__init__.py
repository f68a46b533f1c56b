"""Neutral helpers below every stage (the core layer; docs/design.md, "Layers"): text utilities,
delexicalisation and slot-error counting, state helpers, value normalisation, YAML positions, paths."""

"""Infrastructure (docs/design.md, "Layers"): the lookup a state calls for on the backends, building
their tables, the conversation log, the MiniLM encoder and saving and loading artifacts."""

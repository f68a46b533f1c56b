"""The conversation layer (docs/design.md, "Layers"): the pipeline agent, the session that holds one
conversation, and the simulated dialogue that puts a simulated user in the session."""

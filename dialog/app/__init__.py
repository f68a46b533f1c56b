"""The application (docs/design.md, "Layers"): the assistant the UI and the REST channel serve,
conversation scripts, and the artifacts made from trained ones (`tod export`)."""

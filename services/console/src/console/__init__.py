"""The web console: server-rendered pages over the other services' HTTP APIs (docs/console.md)."""

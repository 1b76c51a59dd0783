"""The web dashboard: server-rendered pages for managers, technicians and members."""

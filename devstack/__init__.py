"""The local stack: Temporal dev server, mail catcher and worker, started by one command."""

"""Web layer: blueprints with thin routes, plus the request-wide hooks they rely on."""

"""HTTP routes of the cloud API, one module per resource."""

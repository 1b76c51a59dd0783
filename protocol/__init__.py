"""The wire contract shared by edge, cloud and simulator: topics, payloads, member codes."""

"""Running yizhan's infrastructure: the MQTT broker and its security rules, the PKI, and the
generator of a production cloud site. Imports ``protocol`` only; ``yizhan`` (the command
line, demo and benches) and the tests use it."""

"""The MQTT broker: Mosquitto supervised (or an embedded one), its dynamic-security accounts
and rules, and a probe that observes what the broker lets a client do."""

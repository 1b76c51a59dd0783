"""The station door: lock relay, LEDs, buzzer, door contact, exit button and fire-alarm input."""

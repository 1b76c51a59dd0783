"""The points kiosk: scan a member code, show the balance, dispense one item exactly once."""

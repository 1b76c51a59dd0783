"""Who may enter: the member roster and its change log, issuer keys, bookings, the door
sync that feeds the boxes, the access-event log, and the development issuer."""

"""Rooms a member can book (courts, meeting rooms, the nursing room), their slots and bookings,
and the union's activities with sign-ups and attendance paid from door scans."""

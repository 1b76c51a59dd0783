"""The worker's side: walk-in enrolment by phone, guest passes, the station finder."""

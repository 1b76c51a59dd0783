"""``yizhan deploy cloud``: a production site (secrets, Mosquitto, nginx, compose) in a folder."""

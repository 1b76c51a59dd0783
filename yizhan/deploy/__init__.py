"""Production deployment: the site folder `yizhan deploy cloud` writes for the container stack."""

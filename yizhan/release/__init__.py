"""Making software releases for boxes: build a wheelhouse, sign its manifest, publish it."""

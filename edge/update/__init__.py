"""Software updates on the box: A/B releases, content-addressed wheels, health gate, rollback.

Two sides with different rights (docs/ARCHITECTURE.md, "Fleet updates"):

- the **agent** (user ``yizhan``, writes only its state folder) takes the ``update``
  command, checks the signed manifest, downloads the wheels it lacks into its spool and asks
  for the install (``fetch.py``, ``updater.py``); it cannot change its own code;
- the **installer** (root, ``yizhan-edge-update apply``, started by a systemd path unit when
  a request appears) checks everything again against the release key pinned under the
  install root, builds the release, switches ``current``, waits for the new agent to report
  healthy and rolls back when it does not (``install.py``); at every boot ``recover`` puts a
  box cut off mid-update back on a release that works.
"""

"""The onboarding board: the Airflow UI page where ops engineers see every open account.

The plugin (``plugins/onboarding_board.py``) mounts :func:`include.board.app.create_app`
in the api-server at ``/board``.  Pages read the onboarding store through the
``onboarding_db`` connection; each open account's SLA clock is kept as instants
in ``onboarding.board_accounts`` (:mod:`include.board.clocks`) so fifty thousand
accounts sort and filter in one scan.  The board changes nothing about an account.
"""

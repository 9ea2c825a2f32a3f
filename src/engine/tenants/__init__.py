"""Tenants: who shares an installation, and on what terms.

:mod:`~engine.tenants.settings` adds, lists, changes and removes tenants (their
``max_waiting``, ``max_running`` and ``weight``); :mod:`~engine.tenants.limits`
refuses a submission for an unknown tenant or past a waiting limit, inside the
submit transaction. Running limits and fair share are decided by the claim
(:mod:`engine.store.fair_claim`), so they hold across engines and hosts.
"""

"""Every SQL statement the engine runs, one module per table, each under a name.

Names are noun first (``JOB_CLAIM_MANY``, ``DEPENDENCY_INSERT_MANY``), so a
reader looking for what touches a table opens one file. Batched statements
take parallel arrays and ``unnest`` them: one round trip for a whole batch.
"""

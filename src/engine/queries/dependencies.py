"""Queries on ``job_dependencies`` (job ``job_id`` waits for ``depends_on_id``)."""

from engine.db.sql import Sql

# -- dependency_insert_many -- a submission's edges in one statement.
DEPENDENCY_INSERT_MANY = Sql(
    """
    INSERT INTO job_dependencies (job_id, depends_on_id)
    SELECT * FROM unnest(CAST(:job_ids AS bigint[]), CAST(:depends_on_ids AS bigint[]))
    """
)

# -- dependency_upstream -- what a job waits for, with each one's state.
DEPENDENCY_UPSTREAM = Sql(
    """
    SELECT j.id, j.type, j.state FROM job_dependencies d JOIN jobs j ON j.id = d.depends_on_id
    WHERE d.job_id = :id ORDER BY j.id
    """
)

# -- dependency_downstream -- what waits for a job, with each one's state.
DEPENDENCY_DOWNSTREAM = Sql(
    """
    SELECT j.id, j.type, j.state FROM job_dependencies d JOIN jobs j ON j.id = d.job_id
    WHERE d.depends_on_id = :id ORDER BY j.id
    """
)

# -- dependency_blocked_dependents -- BLOCKED direct dependents of some jobs.
DEPENDENCY_BLOCKED_DEPENDENTS = Sql(
    """
    SELECT DISTINCT j.id FROM job_dependencies d JOIN jobs j ON j.id = d.job_id
    WHERE d.depends_on_id = ANY(CAST(:ids AS bigint[])) AND j.state = 'blocked'
    ORDER BY j.id
    """
)

# -- dependency_states_of -- each dependency of some jobs, locked FOR SHARE so it cannot
# -- fail or finish while we decide whether its dependents may leave BLOCKED.
DEPENDENCY_STATES_OF = Sql(
    """
    SELECT d.job_id, dep.id AS depends_on_id, dep.state
    FROM job_dependencies d JOIN jobs dep ON dep.id = d.depends_on_id
    WHERE d.job_id = ANY(CAST(:ids AS bigint[]))
    ORDER BY dep.id FOR SHARE OF dep
    """
)

# -- dependency_component -- job ids connected to one job through dependencies, either
# -- direction, breadth first, at most :limit. UNION (not UNION ALL) drops ids already
# -- found, so the walk ends; PostgreSQL evaluates a recursive query only as far as
# -- the outer LIMIT pulls, so a huge component costs :limit rows, not its size.
# -- Each direction is one index: the primary key upstream, depends_on_idx downstream.
DEPENDENCY_COMPONENT = Sql(
    """
    WITH RECURSIVE component(id) AS (
        SELECT CAST(:id AS bigint)
        UNION
        SELECT n.id FROM component c CROSS JOIN LATERAL (
            SELECT d.depends_on_id AS id FROM job_dependencies d WHERE d.job_id = c.id
            UNION ALL
            SELECT d.job_id AS id FROM job_dependencies d WHERE d.depends_on_id = c.id
        ) AS n
    )
    SELECT id FROM component LIMIT :limit
    """
)

# -- dependency_edges_touching -- every dependency with either end among some jobs.
DEPENDENCY_EDGES_TOUCHING = Sql(
    """
    SELECT job_id, depends_on_id FROM job_dependencies
    WHERE job_id = ANY(CAST(:ids AS bigint[]))
    UNION
    SELECT job_id, depends_on_id FROM job_dependencies
    WHERE depends_on_id = ANY(CAST(:ids AS bigint[]))
    """
)

"""One job at a time: the submit path applications take, measured against the peers'.

Applications submit one job per event (a request, a message, a row), so this section
(``python -m bench --only single``, or ``python -m bench.one_at_a_time``) runs, in the
same run and alternating within each repetition, our ``Client.submit()`` one at a time,
50 concurrent callers on one client and ``submit_many`` batches (for reference) against
Celery's and Dramatiq's own one-at-a-time producers, each with 2 worker processes
consuming the same no-op body while the producer runs. It then prints what a user feels
besides throughput: how long one paced submit blocks its caller, how long the submit
command takes from a shell, and the memory of each system's idle process tree.
"""

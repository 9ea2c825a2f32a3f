"""The demo workload behind ``queueconsole demo``: something to look at on a first run."""

"""Background services of the engine: reconciler, retry scheduler, rescuer, and others."""

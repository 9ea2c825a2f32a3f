"""The HTTP API: FastAPI routes over the engine's Client and read API.

``queueconsole api`` serves it alone; ``queueconsole engine --api-port`` serves it
inside the engine's process. Like the CLI and the console it is an entry point:
it talks to the engine through ``Client`` and the read API only (no SQL here),
and imports neither the console nor the CLI.
"""

from queueconsole.api.app import FEATURE_LIFESPANS, create_app
from queueconsole.api.auth import Scope, authenticate_websocket, require

__all__ = ["FEATURE_LIFESPANS", "Scope", "authenticate_websocket", "create_app", "require"]

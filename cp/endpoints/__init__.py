"""HTTP: request info, one handler per verb, watch streaming, discovery, Status errors."""

from cp.endpoints.app import ApiServerApp
from cp.endpoints.limits import Limits

__all__ = ["ApiServerApp", "Limits"]

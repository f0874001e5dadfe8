"""One router per group of panels; each route validates its query, makes one library call and answers."""

from . import codes, generation, runs, shaping

ROUTERS = [runs.router, codes.router, shaping.router, generation.router]

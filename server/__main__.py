"""``python -m server …`` is ``nst …``: lets the GIMP plug-in start the server with a recorded interpreter."""
from .cli import main

raise SystemExit(main())

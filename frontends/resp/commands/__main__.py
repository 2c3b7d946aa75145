"""`python -m frontends.resp.commands --markdown`: prints docs/commands.md (markdown.py)."""

from frontends.resp.commands.markdown import main

raise SystemExit(main())

"""One module per noun; each exposes a Typer ``app`` that ``osm_cli.app`` loads lazily."""

from osm_cli.app import main

raise SystemExit(main())

from osm_cli.entry import main

main()

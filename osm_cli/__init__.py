"""The `osm` command line: argument parsing and printing only.

Logic lives in ``osm_mesh``; commands here parse, build the context, call one
function and print its result.
"""

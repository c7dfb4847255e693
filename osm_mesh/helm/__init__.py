"""Helm: where the chart is, how values are built, and the calls that install it.

``location`` finds the chart, ``values`` turns ``--set``/``-f``/flags into one values tree,
``binary`` checks the ``helm`` program, ``client`` wraps pyhelm3 (async), and ``lifecycle``
runs install, upgrade and uninstall with their checks. Nothing here prints.
"""

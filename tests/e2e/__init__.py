"""The article end to end on a real cluster (scenario.py); `python -m tests.e2e` runs it on
any kubeconfig."""

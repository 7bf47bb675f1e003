"""End-to-end tests against the local single-node cluster (tests/cluster/localcluster.py)."""

"""End-to-end tests against the local single-node cluster (devcluster/localcluster.py)."""

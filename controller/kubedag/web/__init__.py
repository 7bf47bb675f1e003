"""`kubedag web`: a read-only web view of DAGs, runs and backfills (and, when enabled, the
CLI's actions made with the caller's own identity). See README, "Web view"."""

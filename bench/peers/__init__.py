"""The peers in the benchmark harness: Kubernetes' CronJob controller, Argo Workflows and a
bare client, run on the same cluster as kubedag (see docs/performance.md, "Side by side")."""

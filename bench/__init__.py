"""kubedag's benchmarks: the controller against a real kube-apiserver and etcd, with kwok
simulating nodes and the pod lifecycle. Run ``python -m bench --help`` (or ``make bench``);
docs/performance.md explains what each scenario measures and holds the latest figures."""

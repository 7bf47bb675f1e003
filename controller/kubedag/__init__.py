"""kubedag: Airflow-style data pipelines, natively on Kubernetes."""

GROUP = "kubedag.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

"""The DAG and DagRun resources as pydantic models: the single source of the CRD schemas."""

"""The task toolkit: `kubedag-task`, the command task pods run to move data into and inside a
PostgreSQL warehouse (extract, load, sql, check), with psycopg 3.

It runs inside task pods, not in the controller: it imports no other layer of the package, so
the python-task image carries only it, psycopg and Jinja2 (see docs/design.md).
"""

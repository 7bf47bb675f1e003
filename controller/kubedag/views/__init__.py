"""The web view's page models: pure functions from the resources' models to what a page shows
(the DAGs list, the grid, the graph, a run's detail, backfills). No I/O, no clock reads: the
caller passes `now`. kubedag.web renders them as HTML and serves them."""

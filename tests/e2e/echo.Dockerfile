# kubedag/e2e-echo:1, the end-to-end tests' workload: one static program (echo.c, compiled
# with `gcc -static` by devcluster/pause.py's static_binary_image).
FROM scratch
COPY e2e-echo /e2e-echo
ENTRYPOINT ["/e2e-echo"]
